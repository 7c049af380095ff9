"""The load's story step: the articles a batch inserted, or whose body it changed, get their signatures and
their story, matched against the LSH index of the last ``story_window_days`` (``story_index``) and each
other; set-based writes. Also the re-clustering of every stored article (``newsflow recluster``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from newsflow.models import Article, ItemOutcome, StorySignature
from newsflow.stories import Assignment, Known, Signature, StoryParams, assign, signature
from newsflow.stories.matching import PER_KEY
from newsflow.stories.signature import keys_of
from newsflow.warehouse.db import count
from newsflow.warehouse.staged_tables import INDEX_COLUMNS, STORY_COLUMNS, TS, staged_arrow


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
    seen_at = dict(
        con.execute(
            "SELECT article_id, first_loaded_at FROM articles "
            "WHERE article_id IN (SELECT unnest(?::VARCHAR[]))",
            [list(unique)],
        ).fetchall()
    )
    if not seen_at:
        return 0
    # An article's row has seen_at = its first_loaded_at: the filter lets DuckDB skip the row groups of
    # older articles (rows are appended in time order), so the look-up does not grow with the warehouse.
    signed = dict(
        con.execute(
            "SELECT article_id, body_hash FROM article_stories WHERE seen_at >= ? "
            "AND article_id IN (SELECT unnest(?::VARCHAR[]))",
            [min(seen_at.values()), list(seen_at)],
        ).fetchall()
    )
    rows = [(aid, seen, signed.get(aid)) for aid, seen in seen_at.items()]
    todo = [
        _Todo(aid, unique[aid].body_hash, seen, _signature(unique[aid], made.get(aid)))
        for aid, seen, done in rows
        if done != unique[aid].body_hash
    ]
    if not todo:
        return 0
    replaced = [aid for aid, _seen, done in rows if done is not None and done != unique[aid].body_hash]
    return _assign(con, todo, now, params, replaced)


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
        yield _assign(con, todo, now, params, [t.article_id for t in todo])
        last = (rows[-1][1], rows[-1][0])


def _assign(
    con: duckdb.DuckDBPyConnection,
    todo: list[_Todo],
    now: datetime,
    params: StoryParams,
    replaced: Sequence[str],
) -> int:
    """Match ``todo`` (``replaced``: those of them that had rows, to drop first) and write their stories.

    Set-based and vectorised: the batch's LSH keys are made in one pass, looked up in one statement, and only
    the articles with a key that another article has (in the index or the batch) are matched one by one; the
    rest begin stories of their own."""
    todo.sort(key=lambda t: (t.seen_at, t.article_id))
    if replaced:
        con.execute("DELETE FROM story_index WHERE article_id IN (SELECT unnest(?::VARCHAR[]))", [replaced])
        con.execute(
            "DELETE FROM article_stories WHERE article_id IN (SELECT unnest(?::VARCHAR[]))", [replaced]
        )
    oldest = todo[-1].seen_at - timedelta(days=params.window_days)
    con.execute("DELETE FROM story_index WHERE seen_at < ?", [oldest])
    keys = keys_of(np.stack([t.signature.body for t in todo]), np.stack([t.signature.lead for t in todo]))
    batch_keys, counts = np.unique(keys, return_counts=True)
    by_key: dict[int, list[str]] = {}
    with staged_arrow(con, "staged_keys", pa.table({"key": pa.array(batch_keys, pa.int64())})):
        for key, other in con.execute(
            "SELECT i.key, i.article_id FROM story_index i SEMI JOIN staged_keys s USING (key) "
            "QUALIFY row_number() OVER (PARTITION BY i.key ORDER BY i.seen_at DESC, i.article_id DESC) <= ? "
            "ORDER BY i.seen_at, i.article_id",
            [PER_KEY],
        ).fetchall():
            by_key.setdefault(key, []).append(other)
    hot = np.union1d(batch_keys[counts > 1], np.fromiter(by_key, dtype=np.int64, count=len(by_key)))
    sharing_rows = np.asarray(np.isin(keys, hot).any(axis=1), dtype=bool)  # articles sharing a key
    matched = [bool(sharing_rows[n]) for n in range(len(todo))]
    candidates = sorted({a for v in by_key.values() for a in v})
    known = {
        aid: Known(aid, story, Signature.from_bytes(sig, lead, n))
        for aid, story, sig, lead, n in con.execute(
            "SELECT article_id, story_id, signature, lead_signature, shingles FROM article_stories "
            "WHERE seen_at >= ? AND article_id IN (SELECT unnest(?::VARCHAR[]))",  # candidates: the window's
            [oldest, candidates],
        ).fetchall()
    }
    sharing = [(t.article_id, t.signature) for t, m in zip(todo, matched, strict=True) if m]
    found = {a.article_id: a for a in assign(sharing, by_key, known, params)}
    assignments = [found.get(t.article_id) or Assignment(t.article_id, t.article_id) for t in todo]
    signatures = [t.signature.to_bytes() for t in todo]
    stories = pa.table(
        {
            "article_id": [t.article_id for t in todo],
            "story_id": [a.story_id for a in assignments],
            "body_hash": [t.body_hash for t in todo],
            "shingles": pa.array([t.signature.shingles for t in todo], pa.int32()),
            "signature": pa.array([b for b, _ in signatures], pa.binary()),
            "lead_signature": pa.array([lead for _, lead in signatures], pa.binary()),
            "matched_article_id": pa.array([a.matched for a in assignments], pa.string()),
            "containment": pa.array([a.containment for a in assignments], pa.float64()),
            "jaccard": pa.array([a.jaccard for a in assignments], pa.float64()),
            "lead_jaccard": pa.array([a.lead_jaccard for a in assignments], pa.float64()),
            "seen_at": pa.array([t.seen_at for t in todo], TS),
            "assigned_at": pa.array([now] * len(todo), TS),
        },
        schema=pa.schema(STORY_COLUMNS),
    )
    row_of_key = pa.array(np.repeat(np.arange(len(todo)), keys.shape[1]))  # each key's article, in order
    index = pa.table(
        {
            "key": pa.array(keys.ravel(), pa.int64()),
            "article_id": stories.column("article_id").combine_chunks().take(row_of_key),
            "seen_at": stories.column("seen_at").combine_chunks().take(row_of_key),
        },
        schema=pa.schema(INDEX_COLUMNS),
    )
    with staged_arrow(con, "staged_stories", stories):
        con.execute("INSERT INTO article_stories BY NAME SELECT * FROM staged_stories")
        count(
            con,
            "UPDATE articles t SET story_id = s.story_id FROM staged_stories s "
            "WHERE t.article_id = s.article_id AND t.story_id IS DISTINCT FROM s.story_id",
        )
    with staged_arrow(con, "staged_index", index):
        con.execute("INSERT INTO story_index BY NAME SELECT * FROM staged_index")
    return len(todo)
