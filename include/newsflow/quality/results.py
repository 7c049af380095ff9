"""What validating one batch against one suite found: the run record and the rows that failed, read from GX.

A GX suite result is turned into a :class:`ValidationOutcome` here, and only here: an expectation that
errored or a failing schema check raises instead (pipeline errors, not bad rows).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from newsflow.models import ValidationRun
from newsflow.quality.errors import SchemaDriftError, ValidationPipelineError
from newsflow.quality.expectations import SUITES
from newsflow.quality.frames import ROW


@dataclass(frozen=True)
class ValidationOutcome:
    """One suite's verdict on one batch: the ``validation_runs`` record and, for routing, the failing rows."""

    run: ValidationRun
    failed_rows: dict[int, list[str]]
    """``_row`` -> ``"<expectation>: <reason>"`` for every expectation the row failed, in suite order."""

    @property
    def failed_share(self) -> float:
        run = self.run
        return run.rows_failed / run.rows_evaluated if run.rows_evaluated else 0.0


def read_suite_result(
    suite: str, run_id: str, now: datetime, rows: int, suite_result: Any, docs: str | None
) -> ValidationOutcome:
    """The outcome of a GX suite result on a batch of ``rows`` rows (``docs``: its Data Docs page)."""
    specs = {s.name: (i, s) for i, s in enumerate(SUITES[suite])}
    per_expectation = dict.fromkeys(specs, 0)
    failed: dict[int, list[tuple[int, str]]] = {}
    seen: set[str] = set()
    drift: list[str] = []
    for res in suite_result.results:
        config = res.expectation_config
        name = (config.meta or {}).get("name")
        if name not in specs:
            raise ValidationPipelineError(f"suite {suite!r}: result for an unknown expectation {config}")
        seen.add(name)
        order, spec = specs[name]
        error = _exception_message(res.exception_info)
        if error is not None or not res.result:
            raise ValidationPipelineError(
                f"expectation {name!r} of suite {suite!r} errored: {error or 'empty result'}"
            )
        if res.success:
            continue
        if spec.kind == "schema":
            drift.append(f"{name}: observed {res.result.get('observed_value')!r}")
            continue
        index = res.result.get("unexpected_index_list")
        if index is None:
            raise ValidationPipelineError(f"expectation {name!r} failed without naming its rows")
        bad = {_row_key(entry.get(ROW)) for entry in index}
        per_expectation[name] = int(res.result.get("unexpected_count", len(bad)))
        for row in bad:
            failed.setdefault(row, []).append((order, f"{name}: {spec.reason}"))
    if missing := sorted(set(specs) - seen):
        raise ValidationPipelineError(f"suite {suite!r}: no result for {missing}")
    if drift:
        raise SchemaDriftError(suite, detail="GX schema checks failed: " + "; ".join(drift))
    failed_rows = {row: [text for _, text in sorted(items)] for row, items in sorted(failed.items())}
    run = ValidationRun(
        run_id=run_id,
        suite=suite,
        validated_at=now,
        rows_evaluated=rows,
        rows_passed=rows - len(failed_rows),
        rows_failed=len(failed_rows),
        per_expectation=per_expectation,
        success=bool(suite_result.success) and not failed_rows,
        data_docs_path=docs,
    )
    return ValidationOutcome(run=run, failed_rows=failed_rows)


def _exception_message(info: Any) -> str | None:
    """The message of an expectation that raised; GX 1.24 nests it per metric in some cases."""
    if not isinstance(info, Mapping):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error")
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message") or "unknown error")
    return None


def _row_key(value: Any) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ValidationPipelineError(f"GX returned a bad {ROW} value {value!r}") from exc
    if math.isnan(number):
        raise ValidationPipelineError(f"GX returned a null {ROW}")
    return int(number)
