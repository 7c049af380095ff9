"""Article and topic batches as pandas frames with an exact, typed column set, and the check of that schema.

Every batch frame has a surrogate ``_row`` key (GX names failing rows by it). The article columns are derived
from :class:`~newsflow.models.Article`, so a new field cannot be left unvalidated. pandas is imported inside
the functions that need it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from newsflow.models import Article, TopicRow
from newsflow.quality.errors import SchemaDriftError, ValidationPipelineError

if TYPE_CHECKING:
    import pandas as pd

ARTICLES_SUITE = "articles"
TOPICS_SUITE = "article_topics"
ROW = "_row"
"""The surrogate row key of every batch frame: GX reports failing rows by it."""

_PY_TYPES: dict[Any, str] = {str: "str", datetime: "Timestamp", int: "int64", float: "float64", bool: "bool"}
# Text as Python-backed strings: a batch frame is small, and GX filters rows of Arrow-backed text (pandas'
# default) more slowly.
_DTYPES = {
    "str": "string[python]",
    "Timestamp": "datetime64[us, UTC]",
    "float64": "float64",
    "list": "object",
}


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(base type, optional) of a dataclass field hint; a ``Literal`` of strings is ``str``."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0] if len(args) == 1 else hint
    if typing.get_origin(hint) is Literal:
        hint = type(typing.get_args(hint)[0])
    return hint, optional


def _literal_values(hint: Any) -> tuple[str, ...]:
    """The values of a (possibly optional) ``Literal`` hint; empty for any other hint."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    return tuple(typing.get_args(hint)) if typing.get_origin(hint) is Literal else ()


def _article_schema() -> tuple[dict[str, str], tuple[str, ...], dict[str, tuple[str, ...]]]:
    """Columns and types derived from :class:`Article`, its non-optional fields, the allowed values of its
    ``Literal`` fields."""
    hints = typing.get_type_hints(Article)
    columns = {ROW: "int64"}
    required = []
    allowed = {}
    for f in dataclasses.fields(Article):
        base, optional = _unwrap(hints[f.name])
        if base not in _PY_TYPES:
            raise TypeError(f"Article.{f.name}: no batch column type for {hints[f.name]!r}")
        columns[f.name] = _PY_TYPES[base]
        if not optional:
            required.append(f.name)
        if values := _literal_values(hints[f.name]):
            allowed[f.name] = values
    columns["topics"] = "list"
    return columns, tuple(required), allowed


ARTICLE_COLUMNS, ARTICLE_REQUIRED, ALLOWED_VALUES = _article_schema()
"""Column -> GX type name of an article batch (``Article`` fields, ``topics`` and ``_row``); the columns
``Article`` does not allow to be None; the allowed values of each ``Literal`` field (``body_source``, ...)."""

TOPIC_COLUMNS: dict[str, str] = {
    ROW: "int64",
    "article_id": "str",
    "topic": "str",
    "classifier_version": "str",
    "score": "float64",
    "assigned": "bool",
    "evidence": "str",
    "classified_at": "Timestamp",
}
"""Column -> GX type name of a topic batch: the ``article_topics`` table (evidence as JSON text)."""
TOPIC_REQUIRED = ("article_id", "topic", "classifier_version", "score", "assigned", "classified_at")
SUITE_COLUMNS: dict[str, dict[str, str]] = {ARTICLES_SUITE: ARTICLE_COLUMNS, TOPICS_SUITE: TOPIC_COLUMNS}


def _dtype(type_name: str, nullable: bool) -> str:
    if type_name == "int64":
        return "Int64" if nullable else "int64"
    if type_name == "bool":
        return "boolean" if nullable else "bool"
    return _DTYPES[type_name]


def articles_frame(
    articles: Sequence[Article], topics: Mapping[str, Sequence[str]] | None = None
) -> pd.DataFrame:
    """The batch frame of ``articles`` (``_row`` = position; ``topics`` by article id, default none)."""
    import pandas as pd

    topics = topics or {}
    data: dict[str, Any] = {ROW: pd.array(range(len(articles)), dtype="int64")}
    for name, type_name in ARTICLE_COLUMNS.items():
        if name == ROW:
            continue
        if name == "topics":
            values: list[Any] = [list(topics.get(a.article_id, ())) for a in articles]
            data[name] = pd.Series(values, dtype="object")
            continue
        values = [getattr(a, name) for a in articles]
        data[name] = _column(values, type_name, name not in ARTICLE_REQUIRED)
    return pd.DataFrame(data)


def topics_frame(rows: Sequence[TopicRow], classified_at: datetime) -> pd.DataFrame:
    """The batch frame of ``article_topics`` rows (``_row`` = position; evidence as JSON text)."""
    import pandas as pd

    n = len(rows)
    evidence = [json.dumps(r.evidence, sort_keys=True, ensure_ascii=False) for r in rows]
    return pd.DataFrame(
        {
            ROW: pd.array(range(n), dtype="int64"),
            "article_id": _column([r.article_id for r in rows], "str", False),
            "topic": _column([r.topic for r in rows], "str", False),
            "classifier_version": _column([r.classifier_version for r in rows], "str", False),
            "score": _column([r.score for r in rows], "float64", False),
            "assigned": _column([r.assigned for r in rows], "bool", False),
            "evidence": _column(evidence, "str", True),
            "classified_at": _column([classified_at] * n, "Timestamp", False),
        }
    )


def _column(values: list[Any], type_name: str, nullable: bool) -> Any:
    import pandas as pd

    if type_name == "Timestamp":
        return pd.Series(pd.to_datetime(values, utc=True), dtype=_DTYPES["Timestamp"])
    return pd.Series(values, dtype=_dtype(type_name, nullable))


def _dtype_matches(dtype: Any, type_name: str) -> bool:
    """What ExpectColumnValuesToBeOfType accepts for a non-object pandas column (``list``: object)."""
    import numpy as np
    import pandas as pd

    if type_name == "str":
        return isinstance(dtype, pd.StringDtype)
    if type_name == "Timestamp":
        return isinstance(dtype, pd.DatetimeTZDtype)
    if type_name == "list":
        return bool(dtype == np.dtype("object"))
    expected = {"int64": np.int64, "float64": np.float64, "bool": np.bool_}[type_name]
    return getattr(dtype, "type", None) is expected


def check_schema(frame: pd.DataFrame, suite: str) -> None:
    """Raise :class:`SchemaDriftError` naming the missing, extra and mistyped columns of ``frame``."""
    expected = SUITE_COLUMNS[suite]
    actual = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in actual]
    extra = [c for c in actual if c not in expected]
    mistyped = {
        c: (t, str(frame[c].dtype))
        for c, t in expected.items()
        if c in actual and not _dtype_matches(frame[c].dtype, t)
    }
    duplicated = sorted({c for c in actual if actual.count(c) > 1})
    if missing or extra or mistyped or duplicated:
        detail = f"duplicated columns {duplicated}" if duplicated else ""
        raise SchemaDriftError(suite, missing, extra, mistyped, detail)
    rows = frame[ROW]
    if rows.isna().any() or not rows.is_unique:
        raise ValidationPipelineError(f"batch for suite {suite!r}: {ROW} must be unique and not null")
