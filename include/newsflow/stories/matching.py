"""Which story an article joins: the best-overlapping earlier article among its LSH candidates, if it overlaps
enough; else the article starts a story of its own (``story_id`` = its own id)."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from newsflow.config import Settings
from newsflow.stories.signature import Overlap, Signature, overlap

MIN_LEAD_SHINGLES = 30
"""A lead match needs a body of at least this many shingles: a few lines in common are not a story."""


@dataclass(frozen=True)
class StoryParams:
    """The thresholds (settings ``story_*``; see ``config/settings.yaml``)."""

    min_containment: float = 0.7
    min_jaccard: float = 0.15
    window_days: float = 30.0
    min_lead_jaccard: float = 0.7
    """Two bodies whose leads (first 80 words) are this similar are one story whatever their lengths: a copy
    that keeps the first third of an article has a Jaccard similarity of a third with it, and a containment
    estimated from that with a large error; its lead is the article's lead."""

    @classmethod
    def of(cls, settings: Settings) -> StoryParams:
        return cls(
            settings.story_min_containment,
            settings.story_min_jaccard,
            settings.story_window_days,
            settings.story_min_lead_jaccard,
        )

    def matches(self, o: Overlap, shingles: int) -> bool:
        """Whether an overlap makes two bodies one story (``shingles``: the smaller body's)."""
        if o.containment >= self.min_containment and o.jaccard >= self.min_jaccard:
            return True
        return shingles >= MIN_LEAD_SHINGLES and o.lead_jaccard >= self.min_lead_jaccard


@dataclass(frozen=True)
class Known:
    """An article already in a story, as a candidate to match."""

    article_id: str
    story_id: str
    signature: Signature


@dataclass(frozen=True)
class Assignment:
    """An article's story and why: the article it matched and their estimated overlap (None: a new story)."""

    article_id: str
    story_id: str
    matched: str | None = None
    containment: float | None = None
    jaccard: float | None = None
    lead_jaccard: float | None = None


PER_KEY = 16
"""Candidates looked at per LSH key: the latest articles that share it. A key that thousands of articles share
(a wire story run everywhere) would otherwise make matching quadratic in the copies."""
PER_STORY = 4
"""Members of one story compared with an article: its copies are alike, a few tell whether it is one more."""


def assign(
    articles: Sequence[tuple[str, Signature]],
    candidates_by_key: Mapping[int, Iterable[str]],
    known: Mapping[str, Known],
    params: StoryParams,
) -> list[Assignment]:
    """Assign ``articles`` in order: each to the story of its best match among the known articles sharing an
    LSH key with it and the articles before it in ``articles`` (the latest ``PER_KEY`` per key, at most
    ``PER_STORY`` per story); ties go to the earlier article."""
    known = dict(known)
    by_key: dict[int, deque[str]] = {k: deque(v, maxlen=PER_KEY) for k, v in candidates_by_key.items()}
    out = []
    for article_id, sig in articles:
        keys = sig.keys()
        seen: set[str] = set()
        per_story: Counter[str] = Counter()
        best: tuple[float, float, str, Overlap] | None = None
        for key in keys:
            for other in reversed(by_key.get(key, ())):
                if other in seen or other == article_id or other not in known:
                    continue
                seen.add(other)
                candidate = known[other]
                if per_story[candidate.story_id] >= PER_STORY:
                    continue
                per_story[candidate.story_id] += 1
                o = overlap(sig, candidate.signature)
                if not params.matches(o, min(sig.shingles, candidate.signature.shingles)):
                    continue
                rank = (max(o.containment, o.lead_jaccard), o.jaccard, other, o)
                if best is None or rank[:2] > best[:2] or (rank[:2] == best[:2] and other < best[2]):
                    best = rank
        if best is None:
            assignment = Assignment(article_id, article_id)
        else:
            match = known[best[2]]
            o = best[3]
            assignment = Assignment(
                article_id, match.story_id, match.article_id, o.containment, o.jaccard, o.lead_jaccard
            )
        out.append(assignment)
        known[article_id] = Known(article_id, assignment.story_id, sig)
        for key in keys:
            by_key.setdefault(key, deque(maxlen=PER_KEY)).append(article_id)
    return out
