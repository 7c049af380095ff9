"""Records passed between stages. Small, typed, serialisable (Airflow stages pass them via files)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

PollStatus = Literal["ok", "not_modified", "unchanged", "error", "deferred"]
ItemStatus = Literal["loaded", "duplicate", "failed", "quarantined"]
NOT_FETCHED = "not fetched: "
"""How the reason of an item left for a later run without a request begins: the run's fetch budget ran out,
or its host asked for a pause (``Retry-After``) that was still on."""


@dataclass(frozen=True)
class FeedState:
    """What the warehouse remembers about a feed between polls."""

    name: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    consecutive_failures: int = 0
    poll_interval_min: float | None = None
    next_poll_at: datetime | None = None
    last_new_item_at: datetime | None = None


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, as seen at poll time."""

    item_id: str
    feed: str
    guid: str | None
    link: str | None
    canonical_url: str | None
    title: str | None
    summary: str | None
    content: str | None
    author: str | None
    published_at: datetime | None
    entry_hash: str
    language: str | None = None  # declared by the entry (xml:lang) or the feed (<language>)
    dated_by_update: bool = False
    """``published_at`` is the entry's last-update date: it gives no publication date."""


@dataclass(frozen=True)
class PollResult:
    """The outcome of polling one feed; never an exception."""

    poll_id: str
    feed: str
    url: str
    started_at: datetime
    duration_s: float
    status: PollStatus
    http_status: int | None = None
    bytes: int = 0
    items: tuple[FeedItem, ...] = ()
    error: str | None = None
    parse_warning: str | None = None
    feed_title: str | None = None
    feed_format: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    poll_interval_min: float | None = None
    next_poll_at: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("error", "deferred")


@dataclass(frozen=True)
class Article:
    """An extracted article, keyed by the hash of its canonical URL."""

    article_id: str
    canonical_url: str
    url: str
    feed: str
    item_id: str
    title: str | None
    author: str | None
    site_name: str | None
    published_at: datetime | None
    language: str | None
    language_source: str | None
    body: str
    body_source: Literal["extracted", "feed_content", "feed_summary"]
    word_count: int
    body_hash: str
    raw_path: str | None
    http_status: int | None
    fetched_at: datetime
    extractor: str
    extraction_path: Literal["precision", "default", "fallback"] | None = None
    """Which extraction pass gave the page's text (see ``newsflow.articles.extraction.ExtractionPath``);
    None when the page gave none."""
    date_source: Literal["feed", "page", "feed_updated"] | None = None
    """Where ``published_at`` came from: the entry's publication date, the page's own date (the entry had
    none, or only an update date), or the entry's update date (the page had none either)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoredArticle:
    """A stored article and its item as the ledger has it (the entry's text is not kept): what
    re-extraction starts from."""

    article: Article
    entry: FeedItem
    attempts: int


ARTICLE_CHANGE_FIELDS = (
    "title",
    "author",
    "site_name",
    "published_at",
    "language",
    "language_source",
    "body_hash",
    "body_source",
    "url",
    "extractor",
    "extraction_path",
    "date_source",
)
"""The fields of an :class:`Article` whose change updates the stored row (``version`` + 1): its content and
its provenance. The load compares them, and re-extraction stages only an article that differs in one."""


@dataclass(frozen=True)
class StorySignature:
    """An article body's MinHash signatures (see ``newsflow.stories``), made beside its extraction so the
    writer only matches them."""

    body_hash: str
    shingles: int
    signature: bytes
    lead_signature: bytes


@dataclass(frozen=True)
class ItemOutcome:
    """What became of one feed item in this run: its terminal ledger status and reason."""

    item: FeedItem
    status: ItemStatus
    reason: str | None = None
    article_id: str | None = None
    article: Article | None = None
    retryable: bool = False
    attempts: int = 1
    story_signature: StorySignature | None = None
    """The article body's story signatures (loaded outcomes; the load makes them when missing)."""


def is_not_fetched(outcome: ItemOutcome) -> bool:
    """Whether the item waits for a later run without having been requested (see :data:`NOT_FETCHED`)."""
    return outcome.status == "failed" and (outcome.reason or "").startswith(NOT_FETCHED)


@dataclass(frozen=True)
class HostPause:
    """A pause a host asked for (``Retry-After``): no request to it before ``until``."""

    host: str
    until: datetime
    reason: str


@dataclass(frozen=True)
class TopicRow:
    """One article's score for one topic under one classifier version (a row of ``article_topics``)."""

    article_id: str
    topic: str
    classifier_version: str
    score: float
    assigned: bool
    evidence: dict[str, Any]


@dataclass(frozen=True)
class QuarantineRecord:
    """A row that failed validation: kept whole with its reasons (a row of ``quarantine``)."""

    quarantine_id: str
    item_id: str
    article_id: str | None
    run_id: str
    reasons: tuple[str, ...]
    record: dict[str, Any]
    quarantined_at: datetime


@dataclass(frozen=True)
class ValidationRun:
    """One suite's verdict on one batch (a row of ``validation_runs``)."""

    run_id: str
    suite: str
    validated_at: datetime
    rows_evaluated: int
    rows_passed: int
    rows_failed: int
    per_expectation: dict[str, Any]
    success: bool
    data_docs_path: str | None

    @property
    def pass_rate(self) -> float | None:
        """Rows passed / rows evaluated (None for an empty batch)."""
        return self.rows_passed / self.rows_evaluated if self.rows_evaluated else None

    @property
    def failing(self) -> list[tuple[str, int]]:
        """Expectations with unexpected rows and how many, most first."""
        found = ((name, int(n)) for name, n in self.per_expectation.items() if n)
        return sorted(found, key=lambda kv: (-kv[1], kv[0]))


@dataclass
class Batch:
    """Everything one cycle loads in one transaction."""

    polls: list[PollResult] = field(default_factory=list)
    outcomes: list[ItemOutcome] = field(default_factory=list)
    topics: list[TopicRow] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    validations: list[ValidationRun] = field(default_factory=list)
    host_pauses: list[HostPause] = field(default_factory=list)
