"""The load's story step: the articles a batch inserted, or whose body it changed, get their signatures and
their story, matched against the LSH index of the last ``story_window_days`` (``story_index``) and each
other; set-based writes. Also the re-clustering of every stored article (``newsflow recluster``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from newsflow.models import Article, ItemOutcome, StorySignature
from newsflow.stories import Known, Signature, StoryParams, assign, signature
from newsflow.stories.matching import PER_KEY
from newsflow.warehouse.db import count
from newsflow.warehouse.staged_tables import INDEX_COLUMNS, STORY_COLUMNS, staged


@dataclass(frozen=True)
class _Todo:
    article_id: str
    body_hash: str
    seen_at: datetime
    signature: Signature


def assign_stories(
    con: duckdb.DuckDBPyConnection, outcomes: Sequence[ItemOutcome], now: datetime, params: StoryParams
) -> int:
    """Give the new or changed articles of the batch's loaded outcomes their story (idempotent: an article
    whose body has its signature already is left alone), with the signatures made beside the extraction
    (made here for an outcome without one). Returns how many were assigned."""
    made = {
        o.article.article_id: o.story_signature
        for o in outcomes
        if o.article is not None
        and o.story_signature is not None
        and o.story_signature.body_hash == o.article.body_hash
    }
    unique = {o.article.article_id: o.article for o in reversed(outcomes) if o.article is not None}
    if not unique:
        return 0
    rows = con.execute(
        "SELECT a.article_id, a.first_loaded_at, s.body_hash FROM articles a "
        "LEFT JOIN article_stories s USING (article_id) WHERE a.article_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(unique)],
    ).fetchall()
    todo = [
        _Todo(aid, unique[aid].body_hash, seen, _signature(unique[aid], made.get(aid)))
        for aid, seen, done in rows
        if done != unique[aid].body_hash
    ]
    if not todo:
        return 0
    return _assign(con, todo, now, params)


def _signature(article: Article, made: StorySignature | None) -> Signature:
    return Signature.of(made) if made is not None else signature(article.body)


def recluster(
    con: duckdb.DuckDBPyConnection, params: StoryParams, now: datetime, batch_size: int = 5000
) -> Iterator[int]:
    """Rebuild every story, in the order the articles were first loaded, one batch at a time, from the stored
    signatures (made for an article that has none, or one of another body); yields each batch's count. Run
    in one transaction by the caller.

    The index starts empty, so an article is matched only against those re-assigned before it."""
    con.execute("DELETE FROM story_index")
    last: tuple[datetime, str] | None = None
    while True:
        rows = con.execute(
            "SELECT a.article_id, a.first_loaded_at, a.body_hash, s.signature, s.lead_signature, s.shingles, "
            # the body only where there is no signature of it to reuse
            "CASE WHEN s.body_hash IS DISTINCT FROM a.body_hash THEN a.body END "
            "FROM articles a LEFT JOIN article_stories s USING (article_id) WHERE ?::TIMESTAMPTZ IS NULL "
            "OR (a.first_loaded_at, a.article_id) > (?::TIMESTAMPTZ, ?::VARCHAR) "
            "ORDER BY a.first_loaded_at, a.article_id LIMIT ?",
            [last and last[0], last and last[0], last and last[1], batch_size],
        ).fetchall()
        if not rows:
            return
        todo = []
        for aid, seen, body_hash, sig, lead, n, body in rows:
            made = Signature.from_bytes(sig, lead, n) if body is None else signature(body)
            todo.append(_Todo(aid, body_hash, seen, made))
        yield _assign(con, todo, now, params)
        last = (rows[-1][1], rows[-1][0])


def _assign(con: duckdb.DuckDBPyConnection, todo: list[_Todo], now: datetime, params: StoryParams) -> int:
    todo.sort(key=lambda t: (t.seen_at, t.article_id))
    ids = [t.article_id for t in todo]
    con.execute("DELETE FROM story_index WHERE article_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
    con.execute("DELETE FROM article_stories WHERE article_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
    con.execute(
        "DELETE FROM story_index WHERE seen_at < ?", [todo[-1].seen_at - timedelta(days=params.window_days)]
    )
    keys = {t.article_id: t.signature.keys() for t in todo}
    all_keys = sorted({k for ks in keys.values() for k in ks})
    by_key: dict[int, list[str]] = {}
    with staged(con, "staged_keys", [("key", pa.int64())], ({"key": k} for k in all_keys)):
        for key, other in con.execute(
            "SELECT i.key, i.article_id FROM story_index i SEMI JOIN staged_keys s USING (key) "
            "QUALIFY row_number() OVER (PARTITION BY i.key ORDER BY i.seen_at DESC, i.article_id DESC) <= ? "
            "ORDER BY i.seen_at, i.article_id",
            [PER_KEY],
        ).fetchall():
            by_key.setdefault(key, []).append(other)
    candidates = sorted({a for v in by_key.values() for a in v})
    known = {
        aid: Known(aid, story, Signature.from_bytes(sig, lead, n))
        for aid, story, sig, lead, n in con.execute(
            "SELECT article_id, story_id, signature, lead_signature, shingles FROM article_stories "
            "WHERE article_id IN (SELECT unnest(?::VARCHAR[]))",
            [candidates],
        ).fetchall()
    }
    assignments = assign([(t.article_id, t.signature) for t in todo], by_key, known, params)
    story_rows = []
    for t, a in zip(todo, assignments, strict=True):
        body, lead = t.signature.to_bytes()
        story_rows.append(
            {
                "article_id": t.article_id,
                "story_id": a.story_id,
                "body_hash": t.body_hash,
                "shingles": t.signature.shingles,
                "signature": body,
                "lead_signature": lead,
                "matched_article_id": a.matched,
                "containment": a.containment,
                "jaccard": a.jaccard,
                "lead_jaccard": a.lead_jaccard,
                "seen_at": t.seen_at,
                "assigned_at": now,
            }
        )
    index_rows = (
        {"key": k, "article_id": t.article_id, "seen_at": t.seen_at} for t in todo for k in keys[t.article_id]
    )
    with staged(con, "staged_stories", STORY_COLUMNS, story_rows):
        con.execute("INSERT INTO article_stories BY NAME SELECT * FROM staged_stories")
        count(
            con,
            "UPDATE articles t SET story_id = s.story_id FROM staged_stories s "
            "WHERE t.article_id = s.article_id AND t.story_id IS DISTINCT FROM s.story_id",
        )
    with staged(con, "staged_index", INDEX_COLUMNS, index_rows):
        con.execute("INSERT INTO story_index BY NAME SELECT * FROM staged_index")
    return len(todo)
