# newsflow on the official Airflow image. docker-compose.yml builds it for every Airflow service
# (and the sample site); see docs/docker.md.
#
# The tag is pinned to the apache-airflow version in requirements.txt (tests/test_compose.py checks that the
# two agree). Change both together.
FROM apache/airflow:3.3.2-python3.11

# The data directory (warehouse.duckdb, staging/, raw/). docker-compose.yml mounts a named volume here; a new
# named volume starts with this directory's ownership (the airflow user, group 0 like the rest of the image).
USER root
RUN mkdir -p /opt/newsflow/data \
    && chown -R airflow:0 /opt/newsflow \
    && chmod -R g+rwX /opt/newsflow

USER airflow

# Dependencies: requirements.txt with the project's lock file as constraints. apache-airflow is already in
# the image: naming "apache-airflow==${AIRFLOW_VERSION}" (set by the base image) on the same command line
# makes pip keep exactly that version, and fail instead of silently swapping Airflow if requirements.txt or
# constraints.txt ever disagree with the base image. `pip check` then fails the build if a lock-file version
# broke a package that only the image has (the Celery, Postgres and Redis providers, for example).
COPY --chown=airflow:0 requirements.txt constraints.txt /tmp/newsflow-requirements/
RUN pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        -r /tmp/newsflow-requirements/requirements.txt \
        -c /tmp/newsflow-requirements/constraints.txt \
    && pip check \
    && python -c "import airflow, os, sys; sys.exit(0 if airflow.__version__ == os.environ['AIRFLOW_VERSION'] else 'Airflow changed: ' + airflow.__version__)" \
    && python -c "import duckdb, feedparser, great_expectations, pandas, trafilatura"

# The code, so the image also runs without the source tree mounted. docker-compose.yml mounts dags/,
# include/ and plugins/ over these copies for development.
COPY --chown=airflow:0 include/newsflow /opt/airflow/include/newsflow
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins

# The domain package is imported from include/ (not pip-installed), so a mounted include/ is what runs.
ENV PYTHONPATH=/opt/airflow/include \
    NEWSFLOW_HOME=/opt/newsflow/data
