-- newsflow warehouse, schema version 3: the history of data-quality validation runs (newsflow.quality).
-- One row per batch and suite; re-validating the same run upserts its row. Timestamps are UTC.

CREATE TABLE validation_runs (
    run_id          VARCHAR NOT NULL,           -- the validating task's run id (also the GX run name)
    suite           VARCHAR NOT NULL,           -- articles | article_topics
    validated_at    TIMESTAMPTZ NOT NULL,       -- the run's reference time ("now" of the validation)
    rows_evaluated  INTEGER NOT NULL,
    rows_passed     INTEGER NOT NULL,           -- rows that loaded
    rows_failed     INTEGER NOT NULL,           -- rows sent to quarantine with their reasons
    per_expectation JSON NOT NULL,              -- {expectation name: unexpected count}, every expectation
    success         BOOLEAN NOT NULL,           -- every expectation passed on every row
    data_docs_path  VARCHAR,                    -- the run's GX Data Docs page, relative to the GX root
    PRIMARY KEY (run_id, suite),
    CHECK (rows_passed + rows_failed = rows_evaluated)
);
