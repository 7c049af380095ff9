"""Great Expectations itself: its lazy import, newsflow's one custom expectation, expectations from specs.

GX is heavy to import, so only the functions that run it call :func:`load_gx`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from newsflow.quality.expectations import ExpectationSpec

_REGISTERED = False


def load_gx() -> Any:
    """Import GX with its logging quietened, and register newsflow's custom expectation (once)."""
    global _REGISTERED
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    if not _REGISTERED:
        _register_custom_expectations()
        _REGISTERED = True
    return gx


def _register_custom_expectations() -> None:
    """Define (and so register with GX) the one expectation GX lacks: list values within a set."""
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine
    from great_expectations.expectations.expectation import ColumnMapExpectation
    from great_expectations.expectations.metrics.map_metric_provider.column_condition_partial import (
        column_condition_partial,
    )
    from great_expectations.expectations.metrics.map_metric_provider.column_map_metric_provider import (
        ColumnMapMetricProvider,
    )
    from great_expectations.expectations.model_field_types import ValueSetField

    class ColumnListValuesSubsetOfSet(ColumnMapMetricProvider):
        condition_metric_name = "column_values.newsflow_list_subset_of_set"
        condition_value_keys = ("value_set",)

        @column_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column: Any, value_set: Any, **kwargs: Any) -> Any:
            allowed = set(value_set)

            def ok(value: Any) -> bool:
                items = value.tolist() if hasattr(value, "tolist") else value
                return isinstance(items, list | tuple) and all(
                    isinstance(v, str) and v in allowed for v in items
                )

            return column.map(ok)

    class ExpectColumnListValuesToBeSubsetOfSet(ColumnMapExpectation):
        """Expect every value of the column to be a list whose items all belong to ``value_set``."""

        value_set: ValueSetField
        map_metric = "column_values.newsflow_list_subset_of_set"
        success_keys = ("value_set", "mostly")
        args_keys = ("column", "value_set")

    # Annotations are strings here (PEP 563) and the field type is local: resolve it for pydantic.
    ExpectColumnListValuesToBeSubsetOfSet.update_forward_refs(ValueSetField=ValueSetField)


def build_expectation(gx: Any, spec: ExpectationSpec) -> Any:
    """The GX expectation of ``spec``, named and explained (meta and notes) by it."""
    from great_expectations.expectations.registry import get_expectation_impl

    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", spec.expectation).lower()
    cls = getattr(gx.expectations, spec.expectation, None) or get_expectation_impl(snake)
    return cls(**dict(spec.kwargs), meta={"name": spec.name, "reason": spec.reason}, notes=spec.reason)
