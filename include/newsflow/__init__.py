"""newsflow: polite feed polling, article extraction and a DuckDB warehouse for news.

The package is free of Airflow imports: the command line and the Airflow DAGs call the same stage
functions (see :mod:`newsflow.run.cycle`).
"""

__version__ = "0.1.0"
