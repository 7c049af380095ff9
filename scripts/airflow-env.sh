# Source me: a project-local Airflow (SQLite metadata DB in .airflow/) sized for a small machine.
NEWSFLOW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$NEWSFLOW_ROOT/.venv/bin:$PATH"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$NEWSFLOW_ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$NEWSFLOW_ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$NEWSFLOW_ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
export AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL=30
export AIRFLOW__API__WORKERS=1
export NEWSFLOW_HOME="${NEWSFLOW_HOME:-$NEWSFLOW_ROOT/data}"

# Idempotent set-up: metadata DB and the one-slot DuckDB writer pool (a task in a missing pool waits forever).
newsflow_airflow_setup() {
    mkdir -p "$AIRFLOW_HOME"
    airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; return 1; }
    airflow pools set duckdb_writer 1 "Only the newsflow load task writes the DuckDB file" > /dev/null
    newsflow quality-setup > /dev/null  # the GX project is set up once; tasks only run it
}

# Start the bundled sample site on 127.0.0.1:8765 in the background unless something already serves it.
newsflow_sample_site() {
    if ! (exec 3<>/dev/tcp/127.0.0.1/8765) 2>/dev/null; then
        newsflow serve-sample --port 8765 > "$AIRFLOW_HOME/sample-site.log" 2>&1 &
        NEWSFLOW_SAMPLE_PID=$!
        for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8765) 2>/dev/null && return 0; sleep 0.1; done
        echo "sample site did not start: see $AIRFLOW_HOME/sample-site.log" >&2
        return 1
    fi
}
