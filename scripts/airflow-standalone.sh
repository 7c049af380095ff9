#!/usr/bin/env bash
# `make airflow`: airflow standalone (scheduler, dag-processor, api-server, triggerer) on http://localhost:8080
# with the pools created and the bundled sample site on 127.0.0.1:8765. Ctrl-C stops both.
set -euo pipefail
source "$(dirname "$0")/airflow-env.sh"
NEWSFLOW_SAMPLE_PID=""
trap '[ -n "$NEWSFLOW_SAMPLE_PID" ] && kill "$NEWSFLOW_SAMPLE_PID" 2>/dev/null || true' EXIT
newsflow_airflow_setup
newsflow_sample_site
echo "UI: http://localhost:8080 — user admin, password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
echo "    (local only: NEWSFLOW_OPEN_UI=1 make airflow opens the UI without login)"
if [ "${NEWSFLOW_OPEN_UI:-0}" = 1 ]; then
    export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True
fi
airflow standalone
