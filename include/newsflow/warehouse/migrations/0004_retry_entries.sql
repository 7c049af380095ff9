-- newsflow warehouse, schema version 4: the feed entry's own text for items waiting for a retry.
-- A transient failure is retried on the feed's later polls even when the feed no longer lists the entry
-- (a 304 lists nothing), so the entry's text must outlive the poll: a retried page that gives too little text
-- falls back to it, as on the first attempt. One row per item whose last outcome is a retryable failure;
-- the load that records any other outcome for the item deletes its row.
CREATE TABLE retry_entries (
    item_id   VARCHAR PRIMARY KEY,
    summary   VARCHAR,                         -- the entry's summary/description (HTML as the feed gave it)
    content   VARCHAR,                         -- the entry's full content, when the feed carries one
    author    VARCHAR,
    language  VARCHAR                          -- declared by the entry or the feed
);
