"""newsflow: polite feed polling, article extraction and a DuckDB warehouse for news.

The package is free of Airflow imports. One folder per stage (``feeds``, ``articles``, ``topics``,
``quality``, ``warehouse``) beside shared services (``config``, ``net``, ``workers``); ``run`` holds the stage
functions the Airflow DAGs call and ``newsflow run``'s cycle built from them; ``ui`` the Airflow UI pages.
See ``docs/architecture.md``.
"""

__version__ = "0.1.0"
