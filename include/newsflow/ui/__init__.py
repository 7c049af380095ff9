"""Read-only reports on the warehouse for the Airflow UI plugin: the Data Quality and Warehouse pages and the
report of one DAG run, gathered from the published snapshot and rendered as self-contained HTML."""

from newsflow.ui.pages import (
    NO_TOPIC,
    QualityReport,
    RunReport,
    WarehouseReport,
    quality_report,
    run_report,
    warehouse_report,
)
from newsflow.ui.render import (
    CSP,
    render_dag,
    render_message,
    render_quality,
    render_run,
    render_warehouse,
)

__all__ = [
    "CSP",
    "NO_TOPIC",
    "QualityReport",
    "RunReport",
    "WarehouseReport",
    "quality_report",
    "render_dag",
    "render_message",
    "render_quality",
    "render_run",
    "render_warehouse",
    "run_report",
    "warehouse_report",
]
