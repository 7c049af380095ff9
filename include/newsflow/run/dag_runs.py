"""Which staging runs belong to an Airflow DAG run: the DAG and task ids the UI links to, by name only
(no Airflow import)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from newsflow.run.layout import folder_name

INGEST_DAG = "news_ingest"
CURATE_DAG = "news_curate"
VALIDATE_TASK = "validate"


def validates(dag_id: str) -> bool:
    """Whether runs of ``dag_id`` validate data (their reports can show validation runs)."""
    return dag_id in (INGEST_DAG, CURATE_DAG)


def awaits_validation(dag_id: str, validate_result: Mapping[str, Any] | None) -> bool:
    """Whether the DAG run will still name its staging runs: a curate run whose validate task has not
    returned yet."""
    return dag_id == CURATE_DAG and not validate_result


def staging_names(
    dag_id: str, dag_run_id: str, home: Path, validate_result: Mapping[str, Any] | None = None
) -> list[str]:
    """The validation run ids (staging folder names) that belong to one Airflow DAG run.

    ``news_ingest``: the run's own staging folder. ``news_curate``: the folders listed in its ``validate``
    task's return value (``{"runs": [folder paths], ...}``, read from XCom by the caller); none before that
    task ran. Any other DAG validates nothing. ``home`` is the data home the folders are under.
    """
    if dag_id == INGEST_DAG:
        return [folder_name(dag_run_id)]
    if dag_id == CURATE_DAG and validate_result:
        runs = validate_result.get("runs") or []
        return sorted({Path(str(r)).name for r in runs if str(r)})
    return []
