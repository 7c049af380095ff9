"""Compiled evidence: taxonomy phrases indexed for one pass over the tokens, and patterns as regexes.

Both report hits as token positions, so the classifier can weigh phrases and patterns alike.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from newsflow.topics.taxonomy import PatternRule, expand_anchors, expand_pattern
from newsflow.topics.tokens import tokenize

_PREFIX_CACHE_MAX = 200_000

Kind = Literal["core", "support", "penalty", "exclude", "anchor"]


@dataclass(frozen=True)
class Phrase:
    """One taxonomy phrase (or a pattern's label) of one topic, as the tokens it must match."""

    topic: int
    kind: Kind
    label: str
    weight: float
    words: tuple[str, ...]
    prefix: tuple[bool, ...]
    case_sensitive: bool
    second: str | None
    """The exact lowercase second word, when there is one (not a prefix, not case-sensitive)."""

    def matches_at(self, raw: Sequence[str], low: Sequence[str], i: int) -> bool:
        """Whether the phrase matches the tokens starting at ``i``."""
        tokens = raw if self.case_sensitive else low
        if i + len(self.words) > len(tokens):
            return False
        for j, word in enumerate(self.words):
            tok = tokens[i + j]
            if not (tok.startswith(word) if self.prefix[j] else tok == word):
                return False
        return True


def parse_phrase(phrase: str, topic: int, kind: Kind, weight: float, label: str | None = None) -> Phrase:
    """A taxonomy phrase as tokens: a word ending in ``*`` is a prefix, capitals make it case-sensitive."""
    case_sensitive = any(c.isupper() for c in phrase)
    words: list[str] = []
    prefix: list[bool] = []
    for word in phrase.split():
        raw, low = tokenize(word.rstrip("*"))
        parts = raw if case_sensitive else low
        words.extend(parts)
        prefix.extend([False] * (len(parts) - 1) + [word.endswith("*")])
    second = words[1] if len(words) > 1 and not prefix[1] and not case_sensitive else None
    return Phrase(topic, kind, label or phrase, weight, tuple(words), tuple(prefix), case_sensitive, second)


class PhraseIndex:
    """All phrases of all topics, indexed by their first word for a single pass over the tokens."""

    def __init__(self, phrases: list[Phrase]) -> None:
        self._exact: dict[str, list[Phrase]] = {}
        # Phrases whose first word is a prefix ("migra*"), by that prefix, with their order among them:
        # a token is looked up once per distinct prefix length instead of against every prefix.
        self._prefixed: dict[str, list[tuple[int, Phrase]]] = {}
        order = 0
        for phrase in phrases:
            if phrase.prefix[0]:
                self._prefixed.setdefault(phrase.words[0].lower(), []).append((order, phrase))
                order += 1
            else:
                self._exact.setdefault(phrase.words[0].lower(), []).append(phrase)
        self._prefix_lengths = sorted({len(p) for p in self._prefixed})
        self._cache: dict[str, list[Phrase]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": {}}  # a worker process builds its own token cache

    def _candidates(self, low: str) -> list[Phrase]:
        prefixed = [
            hit for n in self._prefix_lengths if n <= len(low) for hit in self._prefixed.get(low[:n], ())
        ]
        found = self._exact.get(low, []) + [phrase for _, phrase in sorted(prefixed, key=lambda h: h[0])]
        if len(self._cache) >= _PREFIX_CACHE_MAX:
            self._cache.clear()
        self._cache[low] = found
        return found

    def scan(self, raw: Sequence[str], low: Sequence[str], offset: int) -> list[tuple[Phrase, int, int]]:
        """Every (phrase, start, end) occurrence; positions are shifted by ``offset``."""
        hits = []
        cache = self._cache
        last = len(low) - 1
        for i, tok in enumerate(low):
            cands = cache.get(tok)
            if cands is None:
                cands = self._candidates(tok)
            if not cands:
                continue
            following = low[i + 1] if i < last else ""
            for phrase in cands:
                second = phrase.second
                if second is not None and following != second:  # cheap filter before the full check
                    continue
                if phrase.matches_at(raw, low, i):
                    hits.append((phrase, offset + i, offset + i + len(phrase.words)))
        return hits


@dataclass(frozen=True)
class TopicPatterns:
    """The patterns of one topic: those without anchors combined into one regex (a named group each),
    those with anchors compiled alone and run only when the phrase scan met one of their anchors."""

    always: re.Pattern[str] | None
    anchored: dict[str, re.Pattern[str]]
    phrases: dict[str, Phrase]
    anchor_phrases: list[Phrase]


def compile_topic_patterns(
    topic: int, rules: Sequence[PatternRule], lists: dict[str, tuple[str, ...]]
) -> TopicPatterns:
    """Compile a topic's pattern rules, their ``{list}`` references expanded."""
    always: list[str] = []
    anchored: dict[str, re.Pattern[str]] = {}
    phrases: dict[str, Phrase] = {}
    anchor_phrases: list[Phrase] = []
    for i, rule in enumerate(rules):
        group = f"nfpat{i}"
        regex = f"(?P<{group}>{expand_pattern(rule.regex, lists)})"
        phrases[group] = Phrase(topic, rule.kind, f"pattern:{rule.name}", rule.weight, (), (), False, None)
        if rule.anchors:
            anchored[group] = re.compile(rf"(?<!\w){regex}(?!\w)")
            anchor_phrases += [
                parse_phrase(a, topic, "anchor", 0.0, group) for a in expand_anchors(rule.anchors, lists)
            ]
        else:
            always.append(regex)
    combined = re.compile(r"(?<!\w)(?:" + "|".join(always) + r")(?!\w)") if always else None
    return TopicPatterns(combined, anchored, phrases, anchor_phrases)


@dataclass
class Hit:
    """A phrase or pattern found at tokens ``[start, end)`` of an article, in sentence ``sentence``."""

    phrase: Phrase
    start: int
    end: int
    sentence: int


def pattern_hits(
    regexes: Sequence[re.Pattern[str]],
    phrases: dict[str, Phrase],
    parts: Sequence[tuple[str, list[str], int]],
    sentence_of: Sequence[int],
) -> list[Hit]:
    """Pattern matches mapped back to token positions (title and body are matched separately)."""
    hits = []
    for (text, tokens, offset), regex in itertools.product(parts, regexes):
        starts: list[int] | None = None
        for m in regex.finditer(text):
            if m.end() == m.start():
                continue
            if starts is None:
                starts, pos = [], 0
                for tok in tokens:
                    starts.append(pos)
                    pos += len(tok) + 1
            group = next(g for g, v in m.groupdict().items() if v is not None and g in phrases)
            first = offset + bisect.bisect_right(starts, m.start()) - 1
            last = offset + bisect.bisect_left(starts, m.end())
            hits.append(Hit(phrases[group], first, last, sentence_of[first]))
    return hits
