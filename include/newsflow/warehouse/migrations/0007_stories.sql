-- newsflow warehouse, schema version 7: stories. Every article belongs to a story: the copies of one text
-- (syndicated, republished, retitled, truncated, updated) share its story_id, the id of the story's first
-- article. The load assigns it, in its transaction, by near-duplicate detection over the extracted body
-- (MinHash signatures, LSH band keys): see newsflow.stories. Articles loaded before this version get theirs from
-- `newsflow recluster`.
ALTER TABLE articles ADD COLUMN story_id VARCHAR;

-- One row per article: its signature and why it joined its story.
CREATE TABLE article_stories (
    article_id         VARCHAR NOT NULL,
    story_id           VARCHAR NOT NULL,
    body_hash          VARCHAR NOT NULL,    -- the body the signature was made from (a correction makes a new one)
    shingles           INTEGER NOT NULL,    -- distinct word 5-grams of the body
    signature          BLOB NOT NULL,       -- MinHash of the body's shingles, 128 x uint32
    lead_signature     BLOB NOT NULL,       -- MinHash of its first 80 words' shingles, 64 x uint32
    matched_article_id VARCHAR,             -- the earlier article it was found a copy of; NULL: it began the story
    containment        DOUBLE,              -- estimated share of the smaller shingle set found in the other
    jaccard            DOUBLE,              -- estimated Jaccard similarity of the two shingle sets
    lead_jaccard       DOUBLE,              -- estimated Jaccard similarity of their leads (first 80 words)
    seen_at            TIMESTAMPTZ NOT NULL,-- the article's first_loaded_at
    assigned_at        TIMESTAMPTZ NOT NULL
);

-- The LSH index: an article's band keys, kept for story_window_days after it was first loaded, so a new
-- article is matched against the stories of that window (its cost follows the window, not the warehouse).
CREATE TABLE story_index (
    key        BIGINT NOT NULL,
    article_id VARCHAR NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL
);

CREATE OR REPLACE VIEW v_articles AS
SELECT
    a.article_id, a.url, a.canonical_url, a.title, a.body, a.language, a.published_at, a.feed,
    a.author, a.site_name, a.word_count, a.body_source, a.fetched_at, a.updated_at,
    -- one classifier version per article is kept (re-classification replaces the old rows)
    COALESCE(
        (SELECT list(t.topic ORDER BY t.topic) FROM article_topics t
         WHERE t.article_id = a.article_id AND t.assigned),
        []::VARCHAR[]) AS topics,
    a.extraction_path, a.date_source, a.story_id
FROM articles a;

CREATE VIEW v_stories AS
SELECT
    a.story_id,
    min(a.first_loaded_at) AS first_seen_at,
    arg_min(a.url, a.first_loaded_at) AS first_url,
    arg_min(a.feed, a.first_loaded_at) AS first_feed,
    arg_min(a.title, a.first_loaded_at) AS title,
    count(*) AS articles,
    count(DISTINCT regexp_replace(regexp_extract(a.canonical_url, '^[a-z]+://([^/:?#]+)', 1), '^www\.', ''))
        AS outlets,
    COALESCE(list_sort(list_distinct(flatten(list(v.topics)))), []::VARCHAR[]) AS topics,
    max(a.first_loaded_at) AS last_seen_at
FROM articles a JOIN v_articles v USING (article_id)
WHERE a.story_id IS NOT NULL
GROUP BY a.story_id;
