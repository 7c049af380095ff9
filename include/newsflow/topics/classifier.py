"""Topic classification: weighted phrase lexicons with context rules, read from a YAML taxonomy.

The taxonomy (``config/taxonomy.yaml`` by default) gives each topic weighted phrases. Text is split into
word tokens (lowercased, accents folded, punctuation dropped); a phrase matches a run of tokens. A word
ending in ``*`` is a prefix; a phrase written with capitals ("ICE agents") matches only that
capitalisation. Per topic:

- ``exclude`` phrases mask their tokens: nothing inside "border collie" or "hearing aid" counts, and a
  token counts for at most one phrase and one pattern (leftmost, then longest, wins);
- ``terms`` and core ``patterns`` (regular expressions over the token text) are core evidence;
- ``support`` terms and patterns count only when some core evidence of the topic fired ("summit" next to a
  foreign minister is diplomacy; on K2 it is nothing);
- ``penalty`` terms subtract: they mark another frame (an impeachment hearing, a market report);
- a phrase found ``c`` times (a title hit counts ``title_weight`` times) adds ``weight * (1 + ln c)``;
- evidence from a single sentence or a single phrase is "narrow" (a passing mention) and is scaled down, long
  articles have their evidence divided by a length factor, and ``score = raw / (raw + scale)`` lies in [0, 1].

A topic is assigned when its score reaches its threshold. The evidence of every score names each phrase that
fired, its weight and its title and body counts, so every decision can be explained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from newsflow.topics.matching import (
    Hit,
    Phrase,
    PhraseIndex,
    TopicPatterns,
    compile_topic_patterns,
    parse_phrase,
    pattern_hits,
)
from newsflow.topics.taxonomy import METHOD_VERSION, Taxonomy, load_taxonomy
from newsflow.topics.tokens import tokenize, tokenize_sentences


@dataclass(frozen=True)
class TopicScore:
    """The score, decision and evidence of one topic for one article."""

    topic: str
    score: float
    """In [0, 1]."""
    assigned: bool
    """``score >= threshold`` of the topic."""
    evidence: dict[str, Any]
    """JSON-serialisable: the phrases and patterns that fired, their weights, title and body counts."""


class Classifier:
    """Scores articles against every topic of a taxonomy (the packaged default when ``None``)."""

    def __init__(self, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy: Taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
        self.topics: list[str] = self.taxonomy.names
        self.version: str = f"{METHOD_VERSION}+{self.taxonomy.fingerprint()}"
        phrases: list[Phrase] = []
        self._patterns: list[TopicPatterns] = []
        for t, name in enumerate(self.topics):
            cfg = self.taxonomy.topics[name]
            phrases += [parse_phrase(p, t, "core", w) for p, w in cfg.terms.items()]
            phrases += [parse_phrase(p, t, "support", w) for p, w in cfg.support.items()]
            phrases += [parse_phrase(p, t, "penalty", w) for p, w in cfg.penalty.items()]
            phrases += [parse_phrase(p, t, "exclude", 0.0) for p in cfg.exclude]
            self._patterns.append(compile_topic_patterns(t, cfg.patterns, self.taxonomy.lists))
            phrases += self._patterns[-1].anchor_phrases
        self._index = PhraseIndex(phrases)

    def classify(self, title: str | None, body: str | None) -> list[TopicScore]:
        """Score one article: one :class:`TopicScore` per topic, in taxonomy order."""
        title_raw, title_low = tokenize(title or "")
        body_raw, body_low, body_sentence_of = tokenize_sentences(body or "", 1)
        n_title = len(title_low)
        sentence_of = [0] * n_title + body_sentence_of
        by_topic: list[list[Hit]] = [[] for _ in self.topics]
        anchors_met: list[set[str]] = [set() for _ in self.topics]
        for phrase, start, end in self._index.scan(title_raw, title_low, 0) + self._index.scan(
            body_raw, body_low, n_title
        ):
            if phrase.kind == "anchor":
                anchors_met[phrase.topic].add(phrase.label)
            else:
                by_topic[phrase.topic].append(Hit(phrase, start, end, sentence_of[start]))

        parts = [(" ".join(title_low), title_low, 0), (" ".join(body_low), body_low, n_title)]
        for t, compiled in enumerate(self._patterns):
            regexes = [compiled.anchored[group] for group in sorted(anchors_met[t])]
            if compiled.always is not None:
                regexes.append(compiled.always)
            if regexes:
                by_topic[t] += pattern_hits(regexes, compiled.phrases, parts, sentence_of)

        n_tokens = len(sentence_of)
        scoring = self.taxonomy.scoring
        length_factor = max(1.0, n_tokens / scoring.length_norm_tokens) ** scoring.length_exponent
        return [
            self._score(name, by_topic[t], n_title, length_factor, n_tokens)
            for t, name in enumerate(self.topics)
        ]

    def assigned(self, title: str | None, body: str | None) -> list[str]:
        """The names of the topics assigned to one article, in taxonomy order."""
        return [s.topic for s in self.classify(title, body) if s.assigned]

    def _score(
        self, name: str, hits: list[Hit], n_title: int, length_factor: float, n_tokens: int
    ) -> TopicScore:
        cfg = self.taxonomy.topics[name]
        scoring = self.taxonomy.scoring
        used: set[int] = set()
        excluded: dict[str, int] = {}
        for hit in hits:
            if hit.phrase.kind == "exclude":
                used.update(range(hit.start, hit.end))
                excluded[hit.phrase.label] = excluded.get(hit.phrase.label, 0) + 1
        # A token is evidence for at most one phrase and one pattern: leftmost, then longest, wins.
        used_by_patterns = set(used)
        counts: dict[str, list[Any]] = {}
        sentences: dict[str, set[int]] = {"core": set(), "support": set(), "penalty": set()}
        for hit in sorted(hits, key=lambda h: (h.start, h.start - h.end)):
            if hit.phrase.kind == "exclude":
                continue
            taken = used_by_patterns if not hit.phrase.words else used
            if any(i in taken for i in range(hit.start, hit.end)):
                continue
            taken.update(range(hit.start, hit.end))
            sentences[hit.phrase.kind].add(hit.sentence)
            entry = counts.setdefault(hit.phrase.label, [hit.phrase.kind, hit.phrase.weight, 0, 0])
            entry[2 if hit.start < n_title else 3] += 1

        raw_by_kind = {"core": 0.0, "support": 0.0, "penalty": 0.0}
        fired = []
        for label, (kind, weight, in_title, in_body) in counts.items():
            contribution = weight * (1.0 + math.log(in_title * scoring.title_weight + in_body))
            raw_by_kind[kind] += contribution
            fired.append(
                {
                    "term": label,
                    "kind": kind,
                    "weight": weight,
                    "title": in_title,
                    "body": in_body,
                    "contribution": round(contribution, 3),
                }
            )
        fired.sort(key=lambda f: (-f["contribution"], f["term"]))

        support_counted = raw_by_kind["core"] > 0
        raw = (
            raw_by_kind["core"]
            + (raw_by_kind["support"] if support_counted else 0.0)
            - raw_by_kind["penalty"]
        )
        raw = max(0.0, raw)
        in_sentences = sentences["core"] | (sentences["support"] if support_counted else set())
        counted = [
            (label, weight)
            for label, (kind, weight, *_) in counts.items()
            if kind == "core" or (kind == "support" and support_counted)
        ]
        n_terms = len(counted)
        strong_phrase = any(
            weight >= scoring.strong_weight and len(label.split()) > 1 for label, weight in counted
        )
        narrow = len(in_sentences) < scoring.min_sentences or (
            n_terms < scoring.min_terms and not strong_phrase
        )
        adjusted = raw * (scoring.narrow_factor if narrow else 1.0) / length_factor
        score = round(adjusted / (adjusted + scoring.scale), 4) if adjusted > 0 else 0.0

        evidence: dict[str, Any] = {
            "terms": fired,
            "core": round(raw_by_kind["core"], 3),
            "support": round(raw_by_kind["support"], 3),
            "support_counted": support_counted,
            "penalty": round(raw_by_kind["penalty"], 3),
            "raw": round(raw, 3),
            "distinct_terms": n_terms,
            "sentences": len(in_sentences),
            "narrow": narrow,
            "length_factor": round(length_factor, 3),
            "tokens": n_tokens,
            "title_hits": sum(f["title"] for f in fired if f["kind"] != "penalty"),
            "body_hits": sum(f["body"] for f in fired if f["kind"] != "penalty"),
            "threshold": cfg.threshold,
        }
        if excluded:
            evidence["excluded"] = excluded
        return TopicScore(topic=name, score=score, assigned=score >= cfg.threshold, evidence=evidence)
