-- Daily feed-health summary, one row per feed and UTC day, written by the news_maintenance DAG.
CREATE TABLE feed_health (
    day                  DATE NOT NULL,
    feed                 VARCHAR NOT NULL,
    polls                INTEGER NOT NULL,        -- polls that day
    failures             INTEGER NOT NULL,        -- of which error or deferred
    items_new            INTEGER NOT NULL,        -- new ledger items found that day
    bytes                BIGINT NOT NULL,         -- bytes transferred that day
    last_status          VARCHAR,                 -- the feed's state when the summary was taken
    consecutive_failures INTEGER,
    last_success_at      TIMESTAMPTZ,
    last_error           VARCHAR,
    PRIMARY KEY (day, feed)
);
