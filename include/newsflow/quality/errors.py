"""Pipeline errors of the quality gate: validation itself failed, as opposed to rows that failed it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class ValidationPipelineError(RuntimeError):
    """Validation itself failed (an expectation errored, the GX project is missing or stale): not bad rows."""


class SchemaDriftError(ValidationPipelineError):
    """The batch's columns or column types differ from the suite's: the producer changed, not the data."""

    def __init__(
        self,
        suite: str,
        missing: Sequence[str] = (),
        extra: Sequence[str] = (),
        mistyped: Mapping[str, tuple[str, str]] | None = None,
        detail: str = "",
    ) -> None:
        self.suite = suite
        self.missing = sorted(missing)
        self.extra = sorted(extra)
        self.mistyped = dict(sorted((mistyped or {}).items()))
        parts = []
        if self.missing:
            parts.append(f"missing columns {self.missing}")
        if self.extra:
            parts.append(f"extra columns {self.extra}")
        if self.mistyped:
            parts.append(
                "mistyped columns "
                + ", ".join(f"{c} (expected {e}, got {g})" for c, (e, g) in self.mistyped.items())
            )
        if detail:
            parts.append(detail)
        super().__init__(f"schema drift in a batch for suite {suite!r}: " + "; ".join(parts))
