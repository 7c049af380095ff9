#!/usr/bin/env bash
# `make run`: the real DAGs end to end on the embedded default, through Airflow (dag.test), then a summary.
set -euo pipefail
source "$(dirname "$0")/airflow-env.sh"
NEWSFLOW_SAMPLE_PID=""
trap '[ -n "$NEWSFLOW_SAMPLE_PID" ] && kill "$NEWSFLOW_SAMPLE_PID" 2>/dev/null || true' EXIT

echo "== Airflow home $AIRFLOW_HOME (SQLite), data in $NEWSFLOW_HOME"
newsflow_airflow_setup
newsflow_sample_site
mkdir -p "$AIRFLOW_HOME/logs"
for dag in news_ingest news_curate; do
    log="$AIRFLOW_HOME/logs/run-$dag.log"
    conf='{}'
    [ "$dag" = news_ingest ] && conf='{"force": true}'
    echo "== airflow dags test $dag (log: $log)"
    if ! airflow dags test "$dag" -c "$conf" > "$log" 2>&1; then
        tail -n 40 "$log"
        exit 1
    fi
    grep -o "DagRun Finished: dag_id=$dag.*state=[a-z]*" "$log" | grep -o "state=[a-z]*" | sed "s/^/   $dag: /"
done
echo
newsflow status
