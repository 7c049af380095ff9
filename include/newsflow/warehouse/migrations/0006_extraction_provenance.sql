-- newsflow warehouse, schema version 6: where each article's text and date came from.
-- extraction_path: the extraction pass that gave the page's text (precision | default | fallback; NULL when the
-- page gave none, and for articles loaded before this version). date_source: where published_at came from
-- (feed | page | feed_updated; NULL when there is no date, and for articles loaded before this version).
-- `articles.extractor` now names newsflow's extraction rules too (trafilatura-<version>+rules-<n>), so
-- `newsflow reextract` can tell which articles an upgrade may change.
ALTER TABLE articles ADD COLUMN extraction_path VARCHAR;
ALTER TABLE articles ADD COLUMN date_source VARCHAR;

CREATE OR REPLACE VIEW v_articles AS
SELECT
    a.article_id, a.url, a.canonical_url, a.title, a.body, a.language, a.published_at, a.feed,
    a.author, a.site_name, a.word_count, a.body_source, a.fetched_at, a.updated_at,
    -- one classifier version per article is kept (re-classification replaces the old rows)
    COALESCE(
        (SELECT list(t.topic ORDER BY t.topic) FROM article_topics t
         WHERE t.article_id = a.article_id AND t.assigned),
        []::VARCHAR[]) AS topics,
    a.extraction_path, a.date_source
FROM articles a;
