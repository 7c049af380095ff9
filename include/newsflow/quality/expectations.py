"""The expectation catalogue: every check of the article and topic suites, with its reason, in code.

One :class:`ExpectationSpec` (name, GX expectation, arguments, one-line reason) per check; a suite's
fingerprint (a hash of its specs) tells a stored GX suite that is out of date from a current one. Nothing here
imports GX.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from newsflow.quality.frames import (
    ALLOWED_VALUES,
    ARTICLE_COLUMNS,
    ARTICLE_REQUIRED,
    ARTICLES_SUITE,
    TOPIC_COLUMNS,
    TOPIC_REQUIRED,
    TOPICS_SUITE,
)

DEFAULT_CLOCK_SKEW = timedelta(minutes=10)
"""How far after ``now`` a timestamp may lie before it counts as in the future (worker clocks differ)."""
OLDEST_PUBLICATION = "1990-01-01T00:00:00+00:00"
MAX_WORDS = 50_000
MAX_BODY_CHARS = 1_000_000
MAX_TITLE_CHARS = 1_000
MAX_AUTHOR_CHARS = 1_000
LANGUAGE_SOURCES = ("page", "feed", "detected")
FINGERPRINT_KEY = "newsflow_fingerprint"
"""The key of a stored suite's meta that holds its :func:`suite_fingerprint`."""
_HEX16 = r"^[0-9a-f]{16}$"


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
"""Suite parameter: ``now`` + the allowed clock skew, as ISO text (see :func:`suite_parameters`)."""
TOPIC_NAMES = {"$PARAMETER": "topic_names"}
"""Suite parameter: the taxonomy's topic names (see :func:`suite_parameters`)."""

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

    :func:`~newsflow.quality.frames.check_schema` enforces every other column's dtype before GX runs, so a GX
    type expectation per column could never fail: it would only add a metric graph per column to every run.
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
            {"column": "body_source", "value_set": list(ALLOWED_VALUES["body_source"])},
            "the text comes from extraction, the feed's content or its summary (Article.body_source)",
        ),
        S(
            "extraction_path_allowed",
            "ExpectColumnValuesToBeInSet",
            {"column": "extraction_path", "value_set": list(ALLOWED_VALUES["extraction_path"])},
            "the pass that gave the page's text is one newsflow runs (Article.extraction_path): an unknown "
            "one is a stale or foreign extractor",
        ),
        S(
            "date_source_allowed",
            "ExpectColumnValuesToBeInSet",
            {"column": "date_source", "value_set": list(ALLOWED_VALUES["date_source"])},
            "the date comes from the feed entry, the page, or the entry's update date (Article.date_source)",
        ),
        S(
            "date_source_when_published_at",
            "ExpectColumnValuesToNotBeNull",
            {
                "column": "date_source",
                "row_condition": {"type": "nullity", "column": {"name": "published_at"}, "is_null": False},
            },
            "every publication date says where it came from (feed or page), so a wrong date can be traced",
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


def suite_parameters(now: datetime, clock_skew: timedelta, topic_names: Sequence[str]) -> dict[str, Any]:
    """The values of :data:`LATEST_TIME` and :data:`TOPIC_NAMES` for one run."""
    return {"latest_allowed_time": (now + clock_skew).isoformat(), "topic_names": sorted(topic_names)}


def suite_fingerprint(suite: str) -> str:
    """A short hash of a suite's definition; a stored suite with another fingerprint is out of date."""
    payload = json.dumps([dataclasses.asdict(s) for s in SUITES[suite]], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
