-- newsflow warehouse, schema version 1. Timestamps are UTC (TIMESTAMPTZ).

CREATE TABLE feeds (
    name                 VARCHAR PRIMARY KEY,   -- feed name from the feeds file
    url                  VARCHAR NOT NULL,
    title                VARCHAR,               -- the feed's own title
    format               VARCHAR,               -- rss20, atom10, rss10, ...
    etag                 VARCHAR,               -- conditional GET validators
    last_modified        VARCHAR,
    body_hash            VARCHAR,               -- sha256 of the last parsed body
    last_polled_at       TIMESTAMPTZ,
    last_status          VARCHAR,               -- ok | not_modified | unchanged | error | deferred
    last_http_status     INTEGER,
    last_error           VARCHAR,
    last_success_at      TIMESTAMPTZ,
    last_new_item_at     TIMESTAMPTZ,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    poll_interval_min    DOUBLE,
    next_poll_at         TIMESTAMPTZ
);

CREATE TABLE feed_polls (
    poll_id       VARCHAR PRIMARY KEY,
    feed          VARCHAR NOT NULL,
    url           VARCHAR NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    duration_s    DOUBLE NOT NULL,
    status        VARCHAR NOT NULL,
    http_status   INTEGER,
    bytes         BIGINT NOT NULL,
    items_seen    INTEGER NOT NULL,
    items_new     INTEGER NOT NULL,
    error         VARCHAR,
    parse_warning VARCHAR
);

CREATE TABLE items (
    item_id       VARCHAR PRIMARY KEY,          -- hash of feed name + entry guid (or link)
    feed          VARCHAR NOT NULL,
    guid          VARCHAR,
    link          VARCHAR,
    canonical_url VARCHAR,
    title         VARCHAR,
    published_at  TIMESTAMPTZ,
    entry_hash    VARCHAR NOT NULL,             -- changes when the entry is edited (triggers a refetch)
    first_poll_id VARCHAR NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    status        VARCHAR NOT NULL CHECK (status IN ('loaded', 'duplicate', 'failed', 'quarantined')),
    reason        VARCHAR,                      -- why failed / duplicate / quarantined
    article_id    VARCHAR,                      -- the article it produced or duplicates
    attempts      INTEGER NOT NULL DEFAULT 1,
    retryable     BOOLEAN NOT NULL DEFAULT FALSE,
    status_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE articles (
    article_id      VARCHAR PRIMARY KEY,        -- hash of canonical_url
    canonical_url   VARCHAR NOT NULL,
    url             VARCHAR NOT NULL,           -- URL fetched (after redirects)
    feed            VARCHAR NOT NULL,           -- feed of the item that first loaded it
    item_id         VARCHAR NOT NULL,
    title           VARCHAR,
    author          VARCHAR,
    site_name       VARCHAR,
    published_at    TIMESTAMPTZ,
    language        VARCHAR,
    language_source VARCHAR,                    -- page | feed | detected
    body            VARCHAR NOT NULL,
    body_source     VARCHAR NOT NULL,           -- extracted | feed_content | feed_summary
    word_count      INTEGER NOT NULL,
    body_hash       VARCHAR NOT NULL,
    raw_path        VARCHAR,
    http_status     INTEGER,
    extractor       VARCHAR NOT NULL,
    fetched_at      TIMESTAMPTZ NOT NULL,
    first_loaded_at TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1  -- bumped by each correction
);

CREATE TABLE article_topics (
    article_id         VARCHAR NOT NULL,
    topic              VARCHAR NOT NULL,
    classifier_version VARCHAR NOT NULL,
    score              DOUBLE NOT NULL,
    assigned           BOOLEAN NOT NULL,
    evidence           JSON,
    classified_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (article_id, topic, classifier_version)
);

CREATE TABLE quarantine (
    quarantine_id  VARCHAR PRIMARY KEY,
    item_id        VARCHAR NOT NULL,
    article_id     VARCHAR,
    run_id         VARCHAR,
    reasons        VARCHAR[] NOT NULL,
    record         JSON,
    quarantined_at TIMESTAMPTZ NOT NULL
);

CREATE VIEW v_articles AS
SELECT
    a.article_id, a.url, a.canonical_url, a.title, a.body, a.language, a.published_at, a.feed,
    a.author, a.site_name, a.word_count, a.body_source, a.fetched_at, a.updated_at,
    -- one classifier version per article is kept (re-classification replaces the old rows)
    COALESCE(
        (SELECT list(t.topic ORDER BY t.topic) FROM article_topics t
         WHERE t.article_id = a.article_id AND t.assigned),
        []::VARCHAR[]) AS topics
FROM articles a;

-- Every item seen is accounted for: one row per violation (empty when the ledger is sound).
CREATE VIEW v_ledger_violations AS
SELECT i.item_id, i.status, 'loaded/duplicate item without its article' AS problem
FROM items i LEFT JOIN articles a ON a.article_id = i.article_id
WHERE i.status IN ('loaded', 'duplicate') AND a.article_id IS NULL
UNION ALL
SELECT i.item_id, i.status, 'failed item without a reason'
FROM items i WHERE i.status = 'failed' AND (i.reason IS NULL OR i.reason = '')
UNION ALL
SELECT i.item_id, i.status, 'quarantined item without a quarantine record'
FROM items i WHERE i.status = 'quarantined'
  AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.item_id = i.item_id)
UNION ALL
SELECT NULL, NULL, 'polls counted ' || p.n || ' new items but the ledger holds ' || i.n
FROM (SELECT COALESCE(sum(items_new), 0) AS n FROM feed_polls) p, (SELECT count(*) AS n FROM items) i
WHERE p.n <> i.n;
