-- newsflow warehouse, schema version 5: pauses publishers asked for (Retry-After), kept across runs.
-- A 429 or 503 with Retry-After pauses the whole host. Within a run the fetcher waits; this table carries the
-- pause to the runs that follow, whose planning leaves the host's items for later (recorded "not fetched",
-- no attempt used) until it ends. One row per host; the load keeps the later end and drops ended pauses.
CREATE TABLE host_pauses (
    host         VARCHAR PRIMARY KEY,           -- host[:port], as the fetcher keys its per-host politeness
    until        TIMESTAMPTZ NOT NULL,          -- no request to the host before this time
    reason       VARCHAR NOT NULL,              -- e.g. "HTTP 429 with Retry-After: 3600"
    recorded_at  TIMESTAMPTZ NOT NULL
);

-- An edited entry of a loaded article whose refetch a run had to leave ("not fetched": budget or pause) keeps
-- the item loaded with its old entry hash; the edited entry waits here (the FeedItem as JSON), and planning
-- refetches it on the feed's next good poll even when that poll lists nothing (a 304).
ALTER TABLE retry_entries ADD COLUMN entry VARCHAR;
