"""The data-quality gate: expectation suites for article and topic batches, run with Great Expectations.

Every batch is a DataFrame with an exact column set (:data:`ARTICLE_COLUMNS`, :data:`TOPIC_COLUMNS`) and a
surrogate ``_row`` key. The suites are defined here, in code, one :class:`ExpectationSpec` (name, GX
expectation, one-line reason) per check. A batch whose *schema* drifted raises :class:`SchemaDriftError`, an
expectation that *errors* raises :class:`ValidationPipelineError` (both are pipeline errors, not bad rows);
otherwise :func:`route` splits the rows into those that load and those to quarantine with their reasons
(the threshold on the failing share is enforced by :mod:`newsflow.quality.gate`
after the load wrote the quarantine).

The GX file project is created once by :meth:`GXProject.setup` (deploy time); tasks only ``get`` and ``run``
it. Every GX call that touches the project holds an exclusive ``flock`` on ``<root>/.newsflow-gx.lock``:
GX writes results and Data Docs pages in place (no temp file + rename) and each run rebuilds the Data Docs
index from all stored results, so two unserialised writers could leave or read half-written files.

``great_expectations`` (3-5 s, about 230 MB) and pandas are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import math
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload
from urllib.parse import unquote, urlsplit

from newsflow.models import Article, TopicRow
from newsflow.urls import stable_id

if TYPE_CHECKING:
    import pandas as pd

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

ARTICLES_SUITE = "articles"
TOPICS_SUITE = "article_topics"
ROW = "_row"
"""The surrogate row key of every batch frame: GX reports failing rows by it."""

DEFAULT_CLOCK_SKEW = timedelta(minutes=10)
OLDEST_PUBLICATION = "1990-01-01T00:00:00+00:00"
MAX_WORDS = 50_000
MAX_BODY_CHARS = 1_000_000
MAX_TITLE_CHARS = 1_000
MAX_AUTHOR_CHARS = 1_000
LANGUAGE_SOURCES = ("page", "feed", "detected")

DATASOURCE = "newsflow"
BATCH_DEFINITION = "whole_frame"
DOCS_SITE = "local_site"
LOCK_FILE = ".newsflow-gx.lock"
RESULT_FORMAT: dict[str, Any] = {"result_format": "COMPLETE", "unexpected_index_column_names": [ROW]}
_FINGERPRINT_KEY = "newsflow_fingerprint"
_RUN_ID_RE = re.compile(r"^[^/\\\x00]{1,200}$")
_HEX16 = r"^[0-9a-f]{16}$"


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


# ----------------------------------------------------------------------------------------------------
# Batch frames
# ----------------------------------------------------------------------------------------------------

_PY_TYPES: dict[Any, str] = {str: "str", datetime: "Timestamp", int: "int64", float: "float64", bool: "bool"}
# Text as Python-backed strings: a batch frame is small, and GX's row filtering on Arrow-backed text (pandas'
# default) made both suites ~10 % slower (measured: 1.03-1.18 s against 0.88-0.92 s for 181 articles).
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


def _article_schema() -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]:
    """Columns and types derived from :class:`Article`, its non-optional fields, its body sources."""
    hints = typing.get_type_hints(Article)
    columns = {ROW: "int64"}
    required = []
    for f in dataclasses.fields(Article):
        base, optional = _unwrap(hints[f.name])
        if base not in _PY_TYPES:
            raise TypeError(f"Article.{f.name}: no batch column type for {hints[f.name]!r}")
        columns[f.name] = _PY_TYPES[base]
        if not optional:
            required.append(f.name)
    columns["topics"] = "list"
    sources = tuple(typing.get_args(hints["body_source"]))
    return columns, tuple(required), sources


ARTICLE_COLUMNS, ARTICLE_REQUIRED, BODY_SOURCES = _article_schema()
"""Column -> GX type name of an article batch (``Article`` fields, ``topics`` and ``_row``); the columns
``Article`` does not allow to be None; the allowed ``body_source`` values."""

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


# ----------------------------------------------------------------------------------------------------
# The suites
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectationSpec:
    """One check: a unique name, the GX expectation class and arguments, and why it exists."""

    name: str
    expectation: str
    kwargs: Mapping[str, Any]
    reason: str
    kind: Literal["schema", "row"] = "row"
    """``schema`` failures are drift (raise); ``row`` failures name the rows that fail."""


LATEST_TIME = {"$PARAMETER": "latest_allowed_time"}
"""Suite parameter: ``now`` + the allowed clock skew, as ISO text (set per run by ``validate``)."""
TOPIC_NAMES = {"$PARAMETER": "topic_names"}
"""Suite parameter: the taxonomy's topic names (set per run by ``validate``)."""

_REQUIRED_REASONS = {
    "article_id": "the articles primary key: without it the row can be neither loaded nor deduplicated",
    "canonical_url": "the article's identity (article_id hashes it); NOT NULL in articles",
    "url": "the fetched URL is the provenance of the text; NOT NULL in articles",
    "feed": "every article is traced to the feed that announced it; NOT NULL in articles",
    "item_id": "links the article to its ledger item, which must account for every item seen",
    "body": "an article without text is useless downstream (classification, search); NOT NULL",
    "body_source": "says whether the text is extracted or the feed's own; NOT NULL in articles",
    "word_count": "length statistics and bounds use it; NOT NULL in articles",
    "body_hash": "change detection (corrections) compares body hashes; NOT NULL in articles",
    "fetched_at": "when the text was fetched: freshness and correction order depend on it",
    "extractor": "which extractor produced the text, to reprocess after an upgrade; NOT NULL",
}


def _schema_specs(suite: str, columns: Mapping[str, str]) -> list[ExpectationSpec]:
    """The column set, and the per-value type of object (list) columns.

    The dtype of every other column is enforced by :func:`check_schema` before GX runs (it raises
    :class:`SchemaDriftError` naming each mistyped column), so a GX type expectation per column could never
    fail; it would only add a metric graph per column to every run (measured: 0.15-0.2 s per batch).
    """
    specs = [
        ExpectationSpec(
            "columns_exact",
            "ExpectTableColumnsToMatchSet",
            {"column_set": sorted(columns), "exact_match": True},
            "the batch has exactly the columns the loader writes: an added, renamed or dropped column is "
            "schema drift that must fail loudly, not a bad row (column types are checked before GX runs)",
            "schema",
        )
    ]
    for column, type_name in columns.items():
        if type_name == "list":
            specs.append(
                ExpectationSpec(
                    f"{column}_type",
                    "ExpectColumnValuesToBeOfType",
                    {"column": column, "type_": type_name},
                    f"{column} holds list values (checked per value: an object column); another type breaks "
                    f"the typed {suite} load",
                )
            )
    return specs


def _not_null(columns: Sequence[str], reasons: Mapping[str, str]) -> list[ExpectationSpec]:
    return [
        ExpectationSpec(
            f"{c}_not_null",
            "ExpectColumnValuesToNotBeNull",
            {"column": c},
            reasons.get(c, f"{c} is required (NOT NULL in the warehouse): a null would fail the load"),
        )
        for c in columns
    ]


def _article_specs() -> list[ExpectationSpec]:
    S = ExpectationSpec
    return [
        *_schema_specs(ARTICLES_SUITE, ARTICLE_COLUMNS),
        *_not_null(ARTICLE_REQUIRED, _REQUIRED_REASONS),
        S(
            "article_id_format",
            "ExpectColumnValuesToMatchRegex",
            {"column": "article_id", "regex": _HEX16},
            "ids are 16 lowercase hex digits of sha256(canonical URL) (urls.article_id): anything else "
            "was not made by our code and would not match on re-runs",
        ),
        S(
            "article_id_unique",
            "ExpectColumnValuesToBeUnique",
            {"column": "article_id"},
            "one row per article: same-URL items are resolved to 'duplicate' before validation, so a repeat "
            "means that step broke and the load would keep an arbitrary copy (every copy is flagged)",
        ),
        S(
            "item_id_format",
            "ExpectColumnValuesToMatchRegex",
            {"column": "item_id", "regex": _HEX16},
            "item ids are urls.stable_id(feed, entry) (16 lowercase hex digits); anything else cannot "
            "match the item ledger",
        ),
        S(
            "item_id_unique",
            "ExpectColumnValuesToBeUnique",
            {"column": "item_id"},
            "an item yields at most one article per batch (the plan de-duplicates items): a repeat is a "
            "fan-out bug",
        ),
        S(
            "url_format",
            "ExpectColumnValuesToMatchRegex",
            {"column": "url", "regex": r"^(?i:https?)://[^\s/?#]+(?:[/?#]\S*)?$"},
            "only absolute http(s) URLs are fetched (urls.is_http_url): another scheme, no host or "
            "whitespace means a broken URL",
        ),
        S(
            "canonical_url_format",
            "ExpectColumnValuesToMatchRegex",
            {"column": "canonical_url", "regex": r"^https?://[^\sA-Z/?#]+/[^\s#]*$"},
            "urls.canonical_url() emits a lowercase http(s) scheme and host, a path and no fragment: "
            "anything else bypassed normalisation and breaks deduplication",
        ),
        S(
            "body_hash_format",
            "ExpectColumnValuesToMatchRegex",
            {"column": "body_hash", "regex": r"^[0-9a-f]{32}$"},
            "body hashes are 32 hex digits of sha256 (extraction.choose_body); corrections are detected "
            "by comparing them",
        ),
        S(
            "word_count_bounds",
            "ExpectColumnValuesToBeBetween",
            {"column": "word_count", "min_value": 1, "max_value": MAX_WORDS},
            f"an empty body is an extraction failure; over {MAX_WORDS:,} words is a whole site or a dump, "
            "not a news article",
        ),
        S(
            "body_length_bounds",
            "ExpectColumnValueLengthsToBeBetween",
            {"column": "body", "min_value": 1, "max_value": MAX_BODY_CHARS},
            f"1..{MAX_BODY_CHARS:,} characters bounds the row size; word_count alone misses scripts "
            "written without spaces (Chinese, Japanese, Thai)",
        ),
        S(
            "title_length",
            "ExpectColumnValueLengthsToBeBetween",
            {"column": "title", "min_value": 1, "max_value": MAX_TITLE_CHARS},
            f"a title (when present) is a line, not body text (<= {MAX_TITLE_CHARS:,} characters); an "
            "empty title must be null",
        ),
        S(
            "author_length",
            "ExpectColumnValueLengthsToBeBetween",
            {"column": "author", "min_value": 1, "max_value": MAX_AUTHOR_CHARS},
            f"a byline of over {MAX_AUTHOR_CHARS:,} characters is body text caught as metadata; an empty "
            "one must be null",
        ),
        S(
            "published_at_not_future",
            "ExpectColumnValuesToBeBetween",
            {"column": "published_at", "max_value": LATEST_TIME},
            "a publication date after now (plus the allowed clock skew) is a time-zone or parsing error "
            "and would sort the article above real news",
        ),
        S(
            "published_at_not_ancient",
            "ExpectColumnValuesToBeBetween",
            {"column": "published_at", "min_value": OLDEST_PUBLICATION},
            "a date before 1990 (pre-web) is a parser default such as the Unix epoch or year 1, not a "
            "news publication date",
        ),
        S(
            "fetched_at_not_future",
            "ExpectColumnValuesToBeBetween",
            {"column": "fetched_at", "max_value": LATEST_TIME},
            "pages are fetched before they are validated: a later fetch time means a skewed worker clock",
        ),
        S(
            "language_code",
            "ExpectColumnValuesToMatchRegex",
            {"column": "language", "regex": r"^[a-z]{2,3}$"},
            "languages are ISO 639-1/-3 codes (extraction.language_code): anything else is a raw header "
            "value that breaks per-language queries",
        ),
        S(
            "language_source_allowed",
            "ExpectColumnValuesToBeInSet",
            {"column": "language_source", "value_set": list(LANGUAGE_SOURCES)},
            "a language comes from the page, the feed or detection; another value is an unknown code path",
        ),
        S(
            "language_source_when_language",
            "ExpectColumnValuesToNotBeNull",
            {
                "column": "language_source",
                "row_condition": {"type": "nullity", "column": {"name": "language"}, "is_null": False},
            },
            "every language says where it came from, so detection quality can be audited",
        ),
        S(
            "no_language_source_without_language",
            "ExpectColumnValuesToBeNull",
            {
                "column": "language_source",
                "row_condition": {"type": "nullity", "column": {"name": "language"}, "is_null": True},
            },
            "a language source without a language is contradictory: one of the two was lost",
        ),
        S(
            "body_source_allowed",
            "ExpectColumnValuesToBeInSet",
            {"column": "body_source", "value_set": list(BODY_SOURCES)},
            "the text comes from extraction, the feed's content or its summary (Article.body_source)",
        ),
        S(
            "http_status_2xx",
            "ExpectColumnValuesToBeBetween",
            {"column": "http_status", "min_value": 200, "max_value": 299},
            "only successful fetches make articles: text from an error page must not load as news",
        ),
        S(
            "topics_in_taxonomy",
            "ExpectColumnListValuesToBeSubsetOfSet",
            {
                "column": "topics",
                "value_set": TOPIC_NAMES,
                "description": "every topic in the list must be a topic name of the taxonomy",
            },
            "topics are names of the taxonomy (classify.load_taxonomy().names): an unknown one is a stale "
            "classifier or a typo and would create an orphan category",
        ),
    ]


def _topic_specs() -> list[ExpectationSpec]:
    S = ExpectationSpec
    reasons = {
        "article_id": "a topic row belongs to an article; NOT NULL in article_topics",
        "topic": "the topic is part of the article_topics primary key",
        "classifier_version": "part of the primary key: re-classification replaces one version's rows",
        "score": "every scored topic has a score; NOT NULL in article_topics",
        "assigned": "the decision drives v_articles.topics; NOT NULL in article_topics",
        "classified_at": "when the article was classified; NOT NULL in article_topics",
    }
    return [
        *_schema_specs(TOPICS_SUITE, TOPIC_COLUMNS),
        *_not_null(TOPIC_REQUIRED, reasons),
        S(
            "article_id_format",
            "ExpectColumnValuesToMatchRegex",
            {"column": "article_id", "regex": _HEX16},
            "topic rows point at article ids (16 lowercase hex digits); anything else joins nothing",
        ),
        S(
            "topic_in_taxonomy",
            "ExpectColumnValuesToBeInSet",
            {"column": "topic", "value_set": TOPIC_NAMES},
            "topics are names of the taxonomy: an unknown one is a stale classifier or a typo",
        ),
        S(
            "classifier_version_format",
            "ExpectColumnValuesToMatchRegex",
            {"column": "classifier_version", "regex": r"^\S{1,100}$"},
            "a version is a short token (method+taxonomy fingerprint): blank or spaced text is not one",
        ),
        S(
            "score_in_unit_interval",
            "ExpectColumnValuesToBeBetween",
            {"column": "score", "min_value": 0.0, "max_value": 1.0},
            "scores are raw / (raw + scale), within [0, 1]: outside it the scoring is broken",
        ),
        S(
            "topic_row_unique",
            "ExpectCompoundColumnsToBeUnique",
            {"column_list": ["article_id", "topic", "classifier_version"]},
            "(article_id, topic, classifier_version) is the primary key: a repeat would abort the load "
            "(every copy is flagged)",
        ),
        S(
            "evidence_is_json",
            "ExpectColumnValuesToBeJsonParseable",
            {"column": "evidence"},
            "evidence is stored as JSON and explains every decision: unparseable text would fail the load",
        ),
        S(
            "classified_at_not_future",
            "ExpectColumnValuesToBeBetween",
            {"column": "classified_at", "max_value": LATEST_TIME},
            "classification happens before validation: a later time means a skewed worker clock",
        ),
    ]


SUITES: dict[str, tuple[ExpectationSpec, ...]] = {
    ARTICLES_SUITE: tuple(_article_specs()),
    TOPICS_SUITE: tuple(_topic_specs()),
}
"""The suites, defined in code: suite name -> its expectations, in order."""
ARTICLE_EXPECTATIONS: dict[str, str] = {s.name: s.reason for s in SUITES[ARTICLES_SUITE]}
"""Expectation name -> one-line reason, for the articles suite."""
TOPIC_EXPECTATIONS: dict[str, str] = {s.name: s.reason for s in SUITES[TOPICS_SUITE]}
"""Expectation name -> one-line reason, for the article_topics suite."""


def suite_fingerprint(suite: str) -> str:
    """A short hash of a suite's definition; a stored suite with another fingerprint is out of date."""
    payload = json.dumps([dataclasses.asdict(s) for s in SUITES[suite]], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------------
# Reports and routing
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one batch against one suite."""

    run_id: str
    suite: str
    rows_evaluated: int
    rows_passed: int
    rows_failed: int
    per_expectation: dict[str, int]
    """Expectation name -> number of unexpected values (0 for a passing expectation)."""
    success: bool
    failed_rows: dict[int, list[str]]
    """``_row`` -> ``"<expectation>: <reason>"`` for every expectation the row failed, in suite order."""
    data_docs_path: str | None
    """This run's Data Docs page, relative to the GX root (the directory given to ``setup``)."""
    validated_at: datetime | None = None

    @property
    def failed_share(self) -> float:
        return self.rows_failed / self.rows_evaluated if self.rows_evaluated else 0.0

    def as_row(self) -> dict[str, Any]:
        """The ``validation_runs`` row (migration 0002); ``per_expectation`` as JSON text."""
        return {
            "run_id": self.run_id,
            "suite": self.suite,
            "validated_at": self.validated_at,
            "rows_evaluated": self.rows_evaluated,
            "rows_passed": self.rows_passed,
            "rows_failed": self.rows_failed,
            "per_expectation": json.dumps(self.per_expectation, sort_keys=True),
            "success": self.success,
            "data_docs_path": self.data_docs_path,
        }


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
    rows: Sequence[T], report: ValidationReport, max_failed_share: float | None = None
) -> Routed[T]: ...
@overload
def route(
    rows: pd.DataFrame, report: ValidationReport, max_failed_share: float | None = None
) -> Routed[dict[str, Any]]: ...
def route(rows: Any, report: ValidationReport, max_failed_share: float | None = None) -> Routed[Any]:
    """Split a validated batch into rows that load and rows to quarantine with their reasons.

    ``rows`` is the sequence the frame was built from (``_row`` = position, as :func:`articles_frame`
    does) or the frame itself (rows come back as dicts without ``_row``). Never raises for bad rows: the
    caller writes the quarantine first, then fails the run if the share is over the threshold.
    """
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        pairs: list[tuple[int, Any]] = _frame_records(rows)
    else:
        pairs = list(enumerate(rows))
    if len(pairs) != report.rows_evaluated:
        raise ValueError(f"route: {len(pairs)} rows given for a report on {report.rows_evaluated}")
    known = {row for row, _ in pairs}
    if not set(report.failed_rows) <= known:
        raise ValueError("route: the report names rows that are not in this batch")
    passed: list[Any] = []
    quarantined: list[QuarantinedRow[Any]] = []
    for row, original in pairs:
        reasons = report.failed_rows.get(row)
        if not reasons:
            passed.append(original)
            continue
        is_record = dataclasses.is_dataclass(original) and not isinstance(original, type)
        record = _jsonable(dataclasses.asdict(original) if is_record else dict(original))
        item_id = record.get("item_id")
        article_id = record.get("article_id")
        quarantined.append(
            QuarantinedRow(
                quarantine_id=stable_id(report.suite, report.run_id, str(row), item_id or article_id or ""),
                row=row,
                item_id=item_id,
                article_id=article_id,
                run_id=report.run_id,
                suite=report.suite,
                reasons=tuple(reasons),
                record=record,
                original=original,
            )
        )
    share = report.failed_share
    over = max_failed_share is not None and share > max_failed_share
    return Routed(passed=passed, quarantined=quarantined, failed_share=share, over_threshold=over)


# ----------------------------------------------------------------------------------------------------
# The GX project
# ----------------------------------------------------------------------------------------------------

_REGISTERED = False


def _gx() -> Any:
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


def _build_expectation(gx: Any, spec: ExpectationSpec) -> Any:
    from great_expectations.expectations.registry import get_expectation_impl

    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", spec.expectation).lower()
    cls = getattr(gx.expectations, spec.expectation, None) or get_expectation_impl(snake)
    return cls(**dict(spec.kwargs), meta={"name": spec.name, "reason": spec.reason}, notes=spec.reason)


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


class GXProject:
    """The newsflow GX file project under ``root`` (``root/gx/...``): set up once, then only run."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    @property
    def gx_dir(self) -> Path:
        return self.root / "gx"

    @property
    def data_docs_dir(self) -> Path:
        """The local Data Docs site (static HTML)."""
        return self.gx_dir / "uncommitted" / "data_docs" / DOCS_SITE

    def is_set_up(self) -> bool:
        return (self.gx_dir / "great_expectations.yml").is_file()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise every process that reads or writes the project (an exclusive flock)."""
        with open(self.root / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _require_setup(self) -> None:
        # get_context(mode="file") would scaffold a new project here: a write that only setup may do.
        if not self.is_set_up():
            raise ValidationPipelineError(f"no GX project under {self.root}: run setup first")

    def _context(self, gx: Any) -> Any:
        return gx.get_context(mode="file", project_root_dir=str(self.root))

    # -- set-up (deploy time, one process) -------------------------------------------------------------
    def setup(self) -> None:
        """Create or update the project: datasource, assets, batch definitions, suites, validation
        definitions and checkpoints (``validate_all`` builds the Data Docs). Idempotent: a second call changes
        no file."""
        gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        from newsflow.quality.gxviews import SITE_VIEWS

        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked():
            ctx = self._context(gx)
            variables = ctx.variables
            quiet = {"globally": False, "metric_calculations": False}
            sites = dict(variables.data_docs_sites or {})
            site = dict(sites.get(DOCS_SITE) or {})
            if (
                dict(variables.progress_bars or {}) != quiet
                or variables.analytics_enabled is not False
                or variables.config_variables_file_path is not None
                or site.get("show_how_to_buttons") is not False
                or any(site.get(key) != value for key, value in SITE_VIEWS.items())
            ):
                variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
                variables.analytics_enabled = False
                # newsflow uses no config variables; with a file named, GX reads and parses it again on
                # every access to a context variable (about 90 per validation: 0.13 s of 0.93 s measured).
                variables.config_variables_file_path = None
                site["show_how_to_buttons"] = False  # they link to docs.greatexpectations.io
                site.update(SITE_VIEWS)  # cached-template views and the summary index builder (gxviews)
                sites[DOCS_SITE] = site
                variables.data_docs_sites = sites
                variables.save()
                ctx = self._context(gx)
            try:
                source = ctx.data_sources.get(DATASOURCE)
            except KeyError:
                source = ctx.data_sources.add_pandas(DATASOURCE)
            for name, specs in SUITES.items():
                try:
                    asset = source.get_asset(name)
                except LookupError:
                    asset = source.add_dataframe_asset(name)
                try:
                    batch = asset.get_batch_definition(BATCH_DEFINITION)
                except KeyError:
                    batch = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
                suite, changed = self._ensure_suite(gx, ctx, name, specs)
                if changed:  # the next validation renders the suite's page again
                    self._suite_page(name).unlink(missing_ok=True)
                try:
                    definition = ctx.validation_definitions.get(name)
                except gx.exceptions.DataContextError:
                    definition = ctx.validation_definitions.add(
                        gx.ValidationDefinition(name=name, data=batch, suite=suite)
                    )
                try:
                    checkpoint = ctx.checkpoints.get(name)
                except gx.exceptions.DataContextError:
                    checkpoint = None
                # No actions: validate_all builds the Data Docs of a batch's results once, after all runs.
                if checkpoint is None or checkpoint.result_format != RESULT_FORMAT or checkpoint.actions:
                    ctx.checkpoints.add_or_update(
                        gx.Checkpoint(
                            name=name,
                            validation_definitions=[definition],
                            actions=[],
                            result_format=RESULT_FORMAT,
                        )
                    )
        LOGGER.info("GX project ready under %s", self.gx_dir)

    def _suite_page(self, suite: str) -> Path:
        """The suite's Data Docs page (GX's layout)."""
        return self.data_docs_dir / "expectations" / f"{suite}.html"

    @staticmethod
    def _ensure_suite(gx: Any, ctx: Any, name: str, specs: Sequence[ExpectationSpec]) -> tuple[Any, bool]:
        """The stored suite, created or updated from the code when its fingerprint differs; and whether it
        was written."""
        fingerprint = suite_fingerprint(name)
        try:
            existing = ctx.suites.get(name)
        except gx.exceptions.DataContextError:
            existing = None
        if existing is not None and (existing.meta or {}).get(_FINGERPRINT_KEY) == fingerprint:
            return existing, False
        suite = gx.ExpectationSuite(
            name=name,
            expectations=[_build_expectation(gx, s) for s in specs],
            meta={_FINGERPRINT_KEY: fingerprint, "defined_in": __name__},
        )
        LOGGER.info("GX suite %s: %s", name, "updated" if existing is not None else "created")
        return ctx.suites.add_or_update(suite), True

    # -- validation (any task, any number of processes) -----------------------------------------------
    def validate(
        self,
        frame: pd.DataFrame,
        suite: str,
        run_id: str,
        now: datetime,
        *,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
        topic_names: Sequence[str] | None = None,
    ) -> ValidationReport:
        """Validate one batch frame with the stored checkpoint of ``suite`` (see :meth:`validate_all`)."""
        (report,) = self.validate_all(
            [(frame, suite)], run_id, now, clock_skew=clock_skew, topic_names=topic_names
        )
        return report

    def validate_all(
        self,
        frames: Sequence[tuple[pd.DataFrame, str]],
        run_id: str,
        now: datetime,
        *,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
        topic_names: Sequence[str] | None = None,
    ) -> list[ValidationReport]:
        """Validate each ``(frame, suite)`` of one batch with the suite's stored checkpoint (only ``get`` and
        ``run``), then build the Data Docs of all the results at once (one index build per batch; a suite's
        own page only when it is missing: setup removes it when it changes the suite).

        ``now`` is the reference time (dates after ``now + clock_skew`` are in the future) and the GX run
        time; ``topic_names`` defaults to the packaged taxonomy's. Raises :class:`SchemaDriftError` for a
        drifted frame and :class:`ValidationPipelineError` when an expectation errors.
        """
        for frame, suite in frames:
            if suite not in SUITES:
                raise ValueError(f"unknown suite {suite!r} (known: {', '.join(SUITES)})")
            check_schema(frame, suite)
        if not _RUN_ID_RE.match(run_id) or run_id.startswith("."):
            raise ValueError(f"run_id {run_id!r}: 1-200 characters, no path separators, not starting '.'")
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._require_setup()
        if topic_names is None:
            from newsflow.topics.classifier import load_taxonomy

            topic_names = load_taxonomy().names
        parameters = {
            "latest_allowed_time": (now + clock_skew).isoformat(),
            "topic_names": sorted(topic_names),
        }
        gx = _gx()
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
        )

        with self._locked():
            ctx = self._context(gx)
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False)  # in memory only
            results: list[tuple[str, Any, Any]] = []
            for frame, suite in frames:
                try:
                    checkpoint = ctx.checkpoints.get(suite)
                    stored = ctx.suites.get(suite)
                except gx.exceptions.DataContextError as exc:
                    raise ValidationPipelineError(f"GX project {self.root}: {exc} (run setup)") from exc
                stale = (stored.meta or {}).get(_FINGERPRINT_KEY) != suite_fingerprint(suite)
                if stale or checkpoint.actions:  # actions: set up by an older newsflow (Data Docs per suite)
                    raise ValidationPipelineError(
                        f"GX suite {suite!r} under {self.root} differs from the code: run setup to update it"
                    )
                try:
                    result = checkpoint.run(
                        batch_parameters={"dataframe": frame},
                        expectation_parameters=parameters,
                        run_id=RunIdentifier(run_name=run_id, run_time=now),
                    )
                except Exception as exc:
                    raise ValidationPipelineError(f"GX checkpoint {suite!r} failed: {exc}") from exc
                if len(result.run_results) != 1:
                    raise ValidationPipelineError(f"checkpoint {suite!r}: {len(result.run_results)} results")
                key, suite_result = next(iter(result.run_results.items()))
                results.append((suite, key, suite_result))
            identifiers: list[Any] = []
            for suite, key, _ in results:
                identifiers.append(key)
                if not self._suite_page(suite).is_file():  # rendered once per suite version (see setup)
                    identifiers.append(ExpectationSuiteIdentifier(name=suite))
            try:
                ctx.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=identifiers)
            except Exception as exc:
                raise ValidationPipelineError(f"GX Data Docs for run {run_id!r} failed: {exc}") from exc
            docs = [self._docs_path(ctx, key) for _, key, _ in results]
        return [
            self._report(suite, run_id, now, len(frame), suite_result, path)
            for (frame, _), (suite, _, suite_result), path in zip(frames, results, docs, strict=True)
        ]

    def _docs_path(self, ctx: Any, key: Any) -> str | None:
        for site in ctx.get_docs_sites_urls(resource_identifier=key, site_name=DOCS_SITE):
            url = site.get("site_url")
            if url and url.startswith("file://"):
                path = Path(unquote(urlsplit(url).path))
                if path.is_file():
                    with contextlib.suppress(ValueError):
                        return path.resolve().relative_to(self.root).as_posix()
        return None

    @staticmethod
    def _report(
        suite: str, run_id: str, now: datetime, rows: int, suite_result: Any, docs: str | None
    ) -> ValidationReport:
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
        return ValidationReport(
            run_id=run_id,
            suite=suite,
            rows_evaluated=rows,
            rows_passed=rows - len(failed_rows),
            rows_failed=len(failed_rows),
            per_expectation=per_expectation,
            success=bool(suite_result.success) and not failed_rows,
            failed_rows=failed_rows,
            data_docs_path=docs,
            validated_at=now,
        )

    # -- retention ----------------------------------------------------------------------------------
    def prune_results(self, keep: int) -> int:
        """Keep the newest ``keep`` validation results per suite, drop the rest and their Data Docs pages,
        and rebuild the Data Docs (GX has no retention of its own). Returns the number removed."""
        if keep < 0:
            raise ValueError("keep must be >= 0")
        self._require_setup()
        gx = _gx()
        with self._locked():
            ctx = self._context(gx)
            store = ctx.validation_results_store
            by_suite: dict[str, list[Any]] = {}
            for key in store.list_keys():
                by_suite.setdefault(key.expectation_suite_identifier.name, []).append(key)
            doomed = []
            for keys in by_suite.values():
                keys.sort(key=lambda k: (k.run_id.run_time, k.run_id.run_name or ""), reverse=True)
                doomed += keys[keep:]
            for key in doomed:
                page = self._docs_path(ctx, key)
                store.remove_key(key)
                if page is not None:
                    (self.root / page).unlink(missing_ok=True)
                    _remove_empty_parents((self.root / page).parent, self.data_docs_dir / "validations")
                _remove_empty_parents(
                    self.gx_dir.joinpath("uncommitted", "validations", *key.to_tuple()[:-1]),
                    self.gx_dir / "uncommitted" / "validations",
                )
            if doomed or not (self.data_docs_dir / "index.html").exists():
                ctx.build_data_docs(site_names=[DOCS_SITE])
        LOGGER.info("GX results pruned under %s: %d removed, %d kept per suite", self.root, len(doomed), keep)
        return len(doomed)


def _remove_empty_parents(directory: Path, stop: Path) -> None:
    """Remove ``directory`` and its parents up to (not including) ``stop`` while they are empty."""
    while directory != stop and stop in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def setup(root: str | Path) -> None:
    """Create the GX project under ``root`` once (idempotent); see :meth:`GXProject.setup`."""
    GXProject(root).setup()


def prune_results(root: str | Path, keep: int) -> int:
    """Bound retained validation results and Data Docs under ``root``; see :meth:`GXProject.prune_results`."""
    return GXProject(root).prune_results(keep)
