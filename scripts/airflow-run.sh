#!/usr/bin/env bash
# `make run`: the main job end to end on the embedded default through a real Airflow (airflow standalone: its
# scheduler, LocalExecutor, api-server, dag-processor): news_ingest triggered through the REST API, then the
# news_curate run it starts; then a summary. Airflow is stopped again at the end.
set -euo pipefail
source "$(dirname "$0")/airflow-env.sh"
echo "== Airflow home $AIRFLOW_HOME (SQLite), data in $NEWSFLOW_HOME"
python "$NEWSFLOW_ROOT/scripts/airflow_live.py" run --force
echo
newsflow status
