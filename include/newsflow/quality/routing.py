"""Routing a validated batch: the rows that load, and the rows to quarantine with the checks they failed.

Routing never raises for bad rows: the caller writes the quarantine first, then fails the run if too large a
share failed (:mod:`newsflow.quality.gate`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from newsflow.quality.frames import ROW
from newsflow.quality.results import ValidationOutcome
from newsflow.urls import stable_id

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")


@dataclass(frozen=True)
class QuarantinedRow(Generic[T]):
    """A row that failed validation, with what the ``quarantine`` table needs (``quarantined_at`` aside)."""

    quarantine_id: str
    """Stable across re-runs of the same batch: ``stable_id(suite, run_id, _row, item or article id)``."""
    row: int
    item_id: str | None
    article_id: str | None
    run_id: str
    suite: str
    reasons: tuple[str, ...]
    record: dict[str, Any]
    """The row as JSON-serialisable values, so nothing is lost."""
    original: T


@dataclass(frozen=True)
class Routed(Generic[T]):
    """Rows that load and rows to quarantine."""

    passed: list[T]
    quarantined: list[QuarantinedRow[T]]
    failed_share: float
    over_threshold: bool
    """``failed_share > max_failed_share`` (False when no threshold was given)."""


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _jsonable(value.tolist())
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    with contextlib.suppress(TypeError, ValueError):
        import pandas as pd

        if pd.isna(value):
            return None
    return str(value)


def _frame_records(frame: pd.DataFrame) -> list[tuple[int, dict[str, Any]]]:
    """(``_row``, record without ``_row``) per frame row; nulls as None, timestamps as datetimes."""
    import pandas as pd

    out = []
    for rec in frame.to_dict("records"):
        row = int(rec.pop(ROW))
        clean: dict[str, Any] = {}
        for k, v in rec.items():
            if isinstance(v, pd.Timestamp):
                v = v.to_pydatetime()
            elif not isinstance(v, list | tuple | dict) and not hasattr(v, "__len__") and pd.isna(v):
                v = None
            elif hasattr(v, "item") and not isinstance(v, str):
                v = v.item()
            clean[str(k)] = v
        out.append((row, clean))
    return out


@overload
def route(
    rows: Sequence[T], outcome: ValidationOutcome, max_failed_share: float | None = None
) -> Routed[T]: ...
@overload
def route(
    rows: pd.DataFrame, outcome: ValidationOutcome, max_failed_share: float | None = None
) -> Routed[dict[str, Any]]: ...
def route(rows: Any, outcome: ValidationOutcome, max_failed_share: float | None = None) -> Routed[Any]:
    """Split a validated batch into rows that load and rows to quarantine with their reasons.

    ``rows`` is the sequence the frame was built from (``_row`` = position, as
    :func:`~newsflow.quality.frames.articles_frame` does) or the frame itself (rows come back as dicts
    without ``_row``).
    """
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        pairs: list[tuple[int, Any]] = _frame_records(rows)
    else:
        pairs = list(enumerate(rows))
    run = outcome.run
    if len(pairs) != run.rows_evaluated:
        raise ValueError(f"route: {len(pairs)} rows given for a validation of {run.rows_evaluated}")
    known = {row for row, _ in pairs}
    if not set(outcome.failed_rows) <= known:
        raise ValueError("route: the validation names rows that are not in this batch")
    passed: list[Any] = []
    quarantined: list[QuarantinedRow[Any]] = []
    for row, original in pairs:
        reasons = outcome.failed_rows.get(row)
        if not reasons:
            passed.append(original)
            continue
        is_record = dataclasses.is_dataclass(original) and not isinstance(original, type)
        record = _jsonable(dataclasses.asdict(original) if is_record else dict(original))
        item_id = record.get("item_id")
        article_id = record.get("article_id")
        quarantined.append(
            QuarantinedRow(
                quarantine_id=stable_id(run.suite, run.run_id, str(row), item_id or article_id or ""),
                row=row,
                item_id=item_id,
                article_id=article_id,
                run_id=run.run_id,
                suite=run.suite,
                reasons=tuple(reasons),
                record=record,
                original=original,
            )
        )
    share = outcome.failed_share
    over = max_failed_share is not None and share > max_failed_share
    return Routed(passed=passed, quarantined=quarantined, failed_share=share, over_threshold=over)
