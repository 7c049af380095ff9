"""Topic classification: weighted phrase lexicons with context rules, from a YAML taxonomy.

Each topic of the taxonomy (``config/taxonomy.yaml`` by default) lists weighted phrases. Text is split into
lowercase word tokens; a phrase matches a run of tokens (``*`` ends a prefix wildcard, a phrase written with
capitals matches only that capitalisation). For each topic:

- ``exclude`` phrases mask their tokens ("border collie", "hearing aid"): nothing inside them counts;
- ``terms`` are core evidence; ``patterns`` are regular expressions over the token text, core or support;
- ``support`` terms only count when some core evidence of the topic fired (a "summit" is diplomacy only next
  to an envoy or a foreign minister, never on K2);
- a term found ``c`` times (title hits count ``title_weight`` times) adds ``weight * (1 + ln c)``; the sum is
  divided by a length factor so that passing mentions in a long article do not add up, and squashed to
  ``score = raw / (raw + scale)`` in [0, 1]. A topic is assigned when ``score >= threshold``.

Everything is explainable: the evidence names each phrase that fired, its weight, and its title and body counts.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newsflow.config import ConfigError

LOGGER = logging.getLogger(__name__)

METHOD_VERSION = "lex-1"
"""Bump whenever the matching or scoring code changes: it is part of :attr:`Classifier.version`."""

DEFAULT_TAXONOMY_FILE = Path(__file__).resolve().parent / "config" / "taxonomy.yaml"

_TOKEN_RE = re.compile(r"\w+")
_TOPIC_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_LIST_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_LIST_REF_RE = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[^a-z\s])|\n\s*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


class TaxonomyError(ConfigError):
    """A taxonomy file is missing, unreadable or invalid."""


# --------------------------------------------------------------------------------------------------------------
# Configuration models
# --------------------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_phrase(phrase: str) -> str:
    tokens = _TOKEN_RE.findall(phrase)
    if not tokens:
        raise ValueError(f"phrase {phrase!r} has no word characters")
    stripped = phrase.replace("*", "")
    if "*" in phrase and not re.fullmatch(r"[^*]+\*?(\s+[^*]+\*?)*", phrase.strip()):
        raise ValueError(f"phrase {phrase!r}: '*' may only end a word")
    if not _TOKEN_RE.search(stripped):
        raise ValueError(f"phrase {phrase!r} has no word characters")
    return phrase


def _check_weights(v: dict[str, float]) -> dict[str, float]:
    for phrase, weight in v.items():
        _check_phrase(phrase)
        if not 0 < weight <= 10:
            raise ValueError(f"weight of {phrase!r} must be in (0, 10], got {weight}")
    return v


class PatternRule(_Strict):
    """A regular expression over the lowercase token text (tokens joined by single spaces)."""

    name: str = Field(min_length=1, max_length=80)
    regex: str = Field(min_length=1)
    weight: float = Field(gt=0, le=10)
    kind: Literal["core", "support"] = "core"


class TopicConfig(_Strict):
    """One topic: what it means, when it is assigned, and the phrases that are its evidence."""

    description: str = Field(min_length=1)
    threshold: float = Field(ge=0, le=1)
    terms: dict[str, float] = Field(min_length=1)
    support: dict[str, float] = Field(default_factory=dict)
    penalty: dict[str, float] = Field(default_factory=dict)
    patterns: tuple[PatternRule, ...] = ()
    exclude: tuple[str, ...] = ()

    @field_validator("terms", "support", "penalty")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_weights(v)

    @field_validator("exclude")
    @classmethod
    def _excludes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for phrase in v:
            _check_phrase(phrase)
        return v


class ScoringConfig(_Strict):
    """How evidence becomes a score (shared by all topics)."""

    scale: float = Field(default=4.0, gt=0)
    """Raw evidence at which the score is 0.5."""
    title_weight: float = Field(default=2.0, ge=1, le=10)
    """A hit in the title counts as this many hits."""
    length_norm_tokens: int = Field(default=400, ge=1)
    """Articles longer than this many tokens have their evidence divided by (tokens / this) ** exponent."""
    length_exponent: float = Field(default=0.5, ge=0, le=1)
    min_sentences: int = Field(default=2, ge=1)
    """Evidence found in fewer sentences than this (the title is one) is narrow ..."""
    min_terms: int = Field(default=2, ge=1)
    """... and so is evidence from fewer distinct phrases or patterns than this ..."""
    narrow_factor: float = Field(default=0.5, ge=0, le=1)
    """... and is multiplied by this factor."""


class Taxonomy(_Strict):
    """A validated taxonomy: scoring settings, shared word lists for patterns, and the topics in order."""

    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    lists: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    topics: dict[str, TopicConfig] = Field(min_length=1)

    @field_validator("topics")
    @classmethod
    def _topic_names(cls, v: dict[str, TopicConfig]) -> dict[str, TopicConfig]:
        for name in v:
            if not _TOPIC_NAME_RE.match(name):
                raise ValueError(f"topic name {name!r} must be 1-40 characters of a-z, 0-9, '_', starting a-z")
        return v

    @field_validator("lists")
    @classmethod
    def _list_names(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, words in v.items():
            if not _LIST_NAME_RE.match(name):
                raise ValueError(f"list name {name!r} must be 1-40 characters of a-z, 0-9, '_', starting a-z")
            if not words:
                raise ValueError(f"list {name!r} is empty")
        return v

    @model_validator(mode="after")
    def _patterns_compile(self) -> Taxonomy:
        for topic, cfg in self.topics.items():
            for rule in cfg.patterns:
                try:
                    _compile_pattern(rule.regex, self.lists)
                except (re.error, KeyError) as exc:
                    raise ValueError(f"topics.{topic}.patterns[{rule.name}]: {exc}") from exc
        return self

    @property
    def names(self) -> list[str]:
        """The topic names in taxonomy order."""
        return list(self.topics)

    def fingerprint(self) -> str:
        """A short hash of the taxonomy content and the method version."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(f"{METHOD_VERSION}\n{payload}".encode()).hexdigest()[:10]


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {key}: {msg}")
    return f"{source}: invalid taxonomy\n" + "\n".join(lines)


def taxonomy_from_dict(data: dict[str, Any], source: str = "<taxonomy>") -> Taxonomy:
    """Validate a taxonomy given as a mapping (as read from YAML); errors name the offending key."""
    try:
        return Taxonomy.model_validate(data)
    except ValidationError as exc:
        raise TaxonomyError(_format_errors(source, exc)) from exc


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file (``None``: the packaged default ``config/taxonomy.yaml``)."""
    p = Path(path) if path is not None else DEFAULT_TAXONOMY_FILE
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaxonomyError(f"{p}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{p}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TaxonomyError(f"{p}: top level must be a mapping with a 'topics' key")
    return taxonomy_from_dict(data, str(p))


# --------------------------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------------------------


def _fold(token: str) -> str:
    """Strip accents from a non-ASCII token ("chargé" -> "charge")."""
    if token.isascii():
        return token
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokenize(text: str) -> tuple[list[str], list[str]]:
    """Split text into word tokens: (as written, lowercased and accent-folded)."""
    raw = _TOKEN_RE.findall(unicodedata.normalize("NFC", text.translate(_APOSTROPHES)))
    return raw, [_fold(t.lower()) for t in raw]


def _tokenize_sentences(text: str, first_id: int) -> tuple[list[str], list[str], list[int]]:
    """Tokens of a text and the sentence number of each token (sentences numbered from ``first_id``)."""
    raw: list[str] = []
    sentence: list[int] = []
    sid = first_id
    for part in _SENTENCE_END_RE.split(unicodedata.normalize("NFC", text.translate(_APOSTROPHES))):
        toks = _TOKEN_RE.findall(part)
        if toks:
            raw.extend(toks)
            sentence.extend([sid] * len(toks))
            sid += 1
    return raw, [_fold(t.lower()) for t in raw], sentence


def _compile_pattern(regex: str, lists: dict[str, tuple[str, ...]]) -> re.Pattern[str]:
    def expand(m: re.Match[str]) -> str:
        words = lists[m.group(1)]  # KeyError names an unknown list
        alts = sorted({" ".join(tokenize(w)[1]) for w in words}, key=len, reverse=True)
        return "(?:" + "|".join(re.escape(a) for a in alts) + ")"

    return re.compile(r"(?<!\w)(?:" + _LIST_REF_RE.sub(expand, regex) + r")(?!\w)")


Kind = Literal["core", "support", "penalty", "exclude"]


@dataclass(frozen=True)
class _Matcher:
    text: str
    prefix: bool
    case_sensitive: bool

    def matches(self, raw: str, low: str) -> bool:
        probe = raw if self.case_sensitive else low
        return probe.startswith(self.text) if self.prefix else probe == self.text


@dataclass(frozen=True)
class _Phrase:
    topic: int
    kind: Kind
    label: str
    weight: float
    matchers: tuple[_Matcher, ...]


def _parse_phrase(phrase: str, topic: int, kind: Kind, weight: float) -> _Phrase:
    case_sensitive = any(c.isupper() for c in phrase)
    matchers = []
    for word in phrase.split():
        prefix = word.endswith("*")
        raw_parts, low_parts = tokenize(word.rstrip("*"))
        parts = raw_parts if case_sensitive else low_parts
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            matchers.append(_Matcher(_fold(part), prefix and last, case_sensitive))
    return _Phrase(topic, kind, phrase, weight, tuple(matchers))


@dataclass
class _Hit:
    phrase: _Phrase
    start: int
    end: int
    in_title: bool


@dataclass
class _Index:
    """All phrases of all topics, indexed by their first token for one pass over the text."""

    exact: dict[str, list[_Phrase]] = field(default_factory=dict)
    prefixes: list[_Phrase] = field(default_factory=list)
    prefix_cache: dict[str, list[_Phrase]] = field(default_factory=dict)

    def add(self, phrase: _Phrase) -> None:
        first = phrase.matchers[0]
        if first.prefix:
            self.prefixes.append(phrase)
        else:
            self.exact.setdefault(first.text.lower(), []).append(phrase)

    def candidates(self, low: str) -> Iterable[_Phrase]:
        found = self.exact.get(low)
        pref = self.prefix_cache.get(low)
        if pref is None:
            pref = [p for p in self.prefixes if low.startswith(p.matchers[0].text.lower())]
            if len(self.prefix_cache) > 200_000:
                self.prefix_cache.clear()
            self.prefix_cache[low] = pref
        if found and pref:
            return found + pref
        return found or pref

    def scan(self, raw: Sequence[str], low: Sequence[str], in_title: bool, offset: int) -> list[_Hit]:
        hits = []
        n = len(low)
        for i, tok in enumerate(low):
            for phrase in self.candidates(tok):
                ms = phrase.matchers
                if i + len(ms) > n:
                    continue
                if all(m.matches(raw[i + j], low[i + j]) for j, m in enumerate(ms)):
                    hits.append(_Hit(phrase, offset + i, offset + i + len(ms), in_title))
        return hits


@dataclass(frozen=True)
class _CompiledPattern:
    rule: PatternRule
    regex: re.Pattern[str]


@dataclass(frozen=True)
class TopicScore:
    """The score, decision and evidence of one topic for one article."""

    topic: str
    score: float
    """In [0, 1]."""
    assigned: bool
    """``score >= threshold`` of the topic."""
    evidence: dict[str, Any]
    """JSON-serialisable: which phrases and patterns fired, how often, in the title or the body."""


class Classifier:
    """Scores articles against every topic of a taxonomy (the packaged default when ``None``)."""

    def __init__(self, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy: Taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
        self.topics: list[str] = self.taxonomy.names
        self.version: str = f"{METHOD_VERSION}+{self.taxonomy.fingerprint()}"
        self._index = _Index()
        self._patterns: list[list[_CompiledPattern]] = []
        for t, name in enumerate(self.topics):
            cfg = self.taxonomy.topics[name]
            for phrase_text, weight in cfg.terms.items():
                self._index.add(_parse_phrase(phrase_text, t, "core", weight))
            for phrase_text, weight in cfg.support.items():
                self._index.add(_parse_phrase(phrase_text, t, "support", weight))
            for phrase_text, weight in cfg.penalty.items():
                self._index.add(_parse_phrase(phrase_text, t, "penalty", weight))
            for phrase_text in cfg.exclude:
                self._index.add(_parse_phrase(phrase_text, t, "exclude", 0.0))
            self._patterns.append(
                [_CompiledPattern(r, _compile_pattern(r.regex, self.taxonomy.lists)) for r in cfg.patterns]
            )

    def classify(self, title: str | None, body: str | None) -> list[TopicScore]:
        """Score one article: one :class:`TopicScore` per topic, in taxonomy order."""
        title_raw, title_low = tokenize(title or "")
        body_raw, body_low, body_sentences = _tokenize_sentences(body or "", 1)
        n_title = len(title_low)
        sentence_of = [0] * n_title + body_sentences
        hits = self._index.scan(title_raw, title_low, True, 0)
        hits += self._index.scan(body_raw, body_low, False, n_title)
        by_topic: list[list[_Hit]] = [[] for _ in self.topics]
        for hit in hits:
            by_topic[hit.phrase.topic].append(hit)

        joined = [" ".join(title_low), " ".join(body_low)]
        starts = [_token_starts(title_low), _token_starts(body_low)]
        n_tokens = n_title + len(body_low)
        scoring = self.taxonomy.scoring
        length_factor = max(1.0, n_tokens / scoring.length_norm_tokens) ** scoring.length_exponent

        results = []
        for t, name in enumerate(self.topics):
            topic_hits = by_topic[t]
            for part, text in enumerate(joined):
                for cp in self._patterns[t]:
                    for m in cp.regex.finditer(text):
                        if m.end() == m.start():
                            continue
                        first = bisect.bisect_right(starts[part], m.start()) - 1
                        last = bisect.bisect_left(starts[part], m.end())
                        offset = 0 if part == 0 else n_title
                        pseudo = _Phrase(t, cp.rule.kind, f"pattern:{cp.rule.name}", cp.rule.weight, ())
                        topic_hits.append(_Hit(pseudo, offset + first, offset + last, part == 0))
            results.append(self._score(name, topic_hits, length_factor, n_tokens, sentence_of))
        return results

    def _score(
        self, name: str, hits: list[_Hit], length_factor: float, n_tokens: int, sentence_of: Sequence[int]
    ) -> TopicScore:
        cfg = self.taxonomy.topics[name]
        scoring = self.taxonomy.scoring
        masked: set[int] = set()
        excluded: dict[str, int] = {}
        for hit in hits:
            if hit.phrase.kind == "exclude":
                masked.update(range(hit.start, hit.end))
                excluded[hit.phrase.label] = excluded.get(hit.phrase.label, 0) + 1
        # Longest match first; a token is evidence for at most one phrase or pattern.
        used: set[int] = set(masked)
        counts: dict[str, list[Any]] = {}
        sentences: dict[str, set[int]] = {"core": set(), "support": set(), "penalty": set()}
        for hit in sorted(
            (h for h in hits if h.phrase.kind != "exclude"), key=lambda h: (h.start, h.start - h.end)
        ):
            span = range(hit.start, hit.end)
            if any(i in used for i in span):
                continue
            used.update(span)
            sentences[hit.phrase.kind].add(sentence_of[min(hit.start, len(sentence_of) - 1)])
            entry = counts.setdefault(hit.phrase.label, [hit.phrase.kind, hit.phrase.weight, 0, 0])
            entry[2 if hit.in_title else 3] += 1

        raw_by_kind = {"core": 0.0, "support": 0.0, "penalty": 0.0}
        fired = []
        for label, (kind, weight, n_title, n_body) in counts.items():
            c = n_title * scoring.title_weight + n_body
            contribution = weight * (1.0 + math.log(c))
            raw_by_kind[kind] += contribution
            fired.append(
                {
                    "term": label,
                    "kind": kind,
                    "weight": weight,
                    "title": n_title,
                    "body": n_body,
                    "contribution": round(contribution, 3),
                }
            )
        core_raw, support_raw, penalty_raw = raw_by_kind["core"], raw_by_kind["support"], raw_by_kind["penalty"]
        support_counted = core_raw > 0
        raw = max(0.0, core_raw + (support_raw if support_counted else 0.0) - penalty_raw)
        in_sentences = sentences["core"] | (sentences["support"] if support_counted else set())
        n_terms = sum(1 for kind, *_ in counts.values() if kind == "core" or (kind == "support" and support_counted))
        narrow = len(in_sentences) < scoring.min_sentences or n_terms < scoring.min_terms
        spread_factor = scoring.narrow_factor if narrow else 1.0
        adjusted = raw * spread_factor / length_factor
        score = adjusted / (adjusted + scoring.scale) if adjusted > 0 else 0.0
        fired.sort(key=lambda f: (-f["contribution"], f["term"]))
        evidence: dict[str, Any] = {
            "terms": fired,
            "core": round(core_raw, 3),
            "support": round(support_raw, 3),
            "support_counted": support_counted,
            "penalty": round(penalty_raw, 3),
            "distinct_terms": n_terms,
            "raw": round(raw, 3),
            "sentences": len(in_sentences),
            "spread_factor": spread_factor,
            "length_factor": round(length_factor, 3),
            "tokens": n_tokens,
            "title_hits": sum(f["title"] for f in fired),
            "body_hits": sum(f["body"] for f in fired),
            "threshold": cfg.threshold,
        }
        if excluded:
            evidence["excluded"] = excluded
        score = round(min(1.0, max(0.0, score)), 4)
        return TopicScore(topic=name, score=score, assigned=score >= cfg.threshold, evidence=evidence)

    def assigned(self, title: str | None, body: str | None) -> list[str]:
        """The names of the topics assigned to one article, in taxonomy order."""
        return [s.topic for s in self.classify(title, body) if s.assigned]


def _token_starts(tokens: Sequence[str]) -> list[int]:
    starts = []
    pos = 0
    for tok in tokens:
        starts.append(pos)
        pos += len(tok) + 1
    return starts
