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

import bisect
import hashlib
import itertools
import json
import logging
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newsflow.config.loader import ConfigError, parse_yaml

LOGGER = logging.getLogger(__name__)

METHOD_VERSION = "lex-1"
"""Bump whenever the matching or scoring code changes; it is part of :attr:`Classifier.version`."""

DEFAULT_TAXONOMY_FILE = Path(__file__).resolve().parents[1] / "config" / "taxonomy.yaml"

_TOKEN_RE = re.compile(r"\w+")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_LIST_REF_RE = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_COMBINING_RE = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"'\u201d)\]]*\s+(?=[^a-z\s])|\n\s*")
_PREFIX_CACHE_MAX = 200_000

Kind = Literal["core", "support", "penalty", "exclude", "anchor"]


class TaxonomyError(ConfigError):
    """A taxonomy file is missing, unreadable or invalid."""


# ----------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_phrase(phrase: str) -> str:
    words = phrase.split()
    if not words or not _TOKEN_RE.search(phrase):
        raise ValueError(f"phrase {phrase!r} has no word characters")
    for word in words:
        if "*" in word.rstrip("*") or word.count("*") > 1 or not _TOKEN_RE.search(word):
            raise ValueError(f"phrase {phrase!r}: '*' may only end a word")
    return phrase


def _check_weights(value: dict[str, float]) -> dict[str, float]:
    for phrase, weight in value.items():
        _check_phrase(phrase)
        if not 0 < weight <= 10:
            raise ValueError(f"weight of {phrase!r} must be in (0, 10], got {weight}")
    return value


class PatternRule(_Strict):
    """A regular expression over the normalised token text (lowercase words joined by single spaces)."""

    name: str = Field(min_length=1, max_length=80)
    regex: str = Field(min_length=1)
    weight: float = Field(gt=0, le=10)
    kind: Literal["core", "support"] = "core"
    anchors: tuple[str, ...] = ()
    """Optional, for speed: the pattern only runs on articles containing one of these phrases
    (``{list}`` stands for every word of a list). Without anchors it runs on every article."""

    @field_validator("anchors")
    @classmethod
    def _anchors(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for phrase in value:
            if not _LIST_REF_RE.fullmatch(phrase.strip()):
                _check_phrase(phrase)
        return value


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
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_weights(value)

    @field_validator("exclude")
    @classmethod
    def _excludes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for phrase in value:
            _check_phrase(phrase)
        return value


class ScoringConfig(_Strict):
    """How evidence becomes a score; shared by all topics."""

    scale: float = Field(default=4.0, gt=0)
    """Raw evidence at which the score is 0.5."""
    title_weight: float = Field(default=2.0, ge=1, le=10)
    """A hit in the title counts as this many hits."""
    length_norm_tokens: int = Field(default=400, ge=1)
    """Evidence of longer articles is divided by (tokens / length_norm_tokens) ** length_exponent."""
    length_exponent: float = Field(default=0.5, ge=0, le=1)
    min_sentences: int = Field(default=2, ge=1)
    """Evidence from fewer sentences than this (the title is one) is narrow ..."""
    min_terms: int = Field(default=2, ge=1)
    """... and so is evidence from fewer distinct phrases or patterns than this, unless one of them is a
    phrase of several words weighing at least ``strong_weight`` ("development aid" in two sentences) ..."""
    strong_weight: float = Field(default=3.0, gt=0)
    narrow_factor: float = Field(default=0.5, ge=0, le=1)
    """... and narrow evidence is multiplied by this factor."""


class Taxonomy(_Strict):
    """A validated taxonomy: scoring settings, word lists for patterns, and the topics in order."""

    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    lists: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    topics: dict[str, TopicConfig] = Field(min_length=1)

    @field_validator("topics", "lists")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, item in value.items():
            if not _NAME_RE.match(name):
                raise ValueError(f"name {name!r} must be 1-40 characters of a-z, 0-9 or '_', starting a-z")
            if isinstance(item, tuple) and not item:
                raise ValueError(f"list {name!r} is empty")
        return value

    @model_validator(mode="after")
    def _patterns_compile(self) -> Taxonomy:
        for topic, cfg in self.topics.items():
            for rule in cfg.patterns:
                try:
                    _expand_pattern(rule.regex, self.lists)
                    _expand_anchors(rule.anchors, self.lists)
                except KeyError as exc:
                    raise ValueError(f"topics.{topic}.patterns[{rule.name}]: unknown list {exc}") from exc
                except re.error as exc:
                    raise ValueError(f"topics.{topic}.patterns[{rule.name}]: invalid regex: {exc}") from exc
        return self

    @property
    def names(self) -> list[str]:
        """The topic names, in taxonomy order."""
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
        data = parse_yaml(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaxonomyError(f"{p}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{p}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TaxonomyError(f"{p}: top level must be a mapping with a 'topics' key")
    return taxonomy_from_dict(data, str(p))


# ----------------------------------------------------------------------------------------------------
# Text normalisation
# ----------------------------------------------------------------------------------------------------


def _normalize(text: str) -> str:
    """Straighten apostrophes; fold accents and compatibility forms ("chargé" -> "charge", "ﬁ" -> "fi")."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'")
    if text.isascii():
        return text
    return _COMBINING_RE.sub("", unicodedata.normalize("NFKD", text))


def _lowered(raw: list[str], norm: str) -> list[str]:
    low: list[str] = _TOKEN_RE.findall(norm.lower())
    return low if len(low) == len(raw) else [t.lower() for t in raw]


def tokenize(text: str) -> tuple[list[str], list[str]]:
    """Split text into word tokens: (as written, lowercased); both accent-folded, in the same order."""
    norm = _normalize(text)
    raw: list[str] = _TOKEN_RE.findall(norm)
    return raw, _lowered(raw, norm)


def _tokenize_sentences(text: str, first_id: int) -> tuple[list[str], list[str], list[int]]:
    """Like :func:`tokenize`, plus the sentence number of each token (numbered from ``first_id``)."""
    norm = _normalize(text)
    raw: list[str] = []
    sentence_of: list[int] = []
    sid = first_id
    for part in _SENTENCE_END_RE.split(norm):
        if part:
            toks = _TOKEN_RE.findall(part)
            if toks:
                raw.extend(toks)
                sentence_of.extend([sid] * len(toks))
                sid += 1
    return raw, _lowered(raw, norm), sentence_of


# ----------------------------------------------------------------------------------------------------
# Compiled phrases and patterns
# ----------------------------------------------------------------------------------------------------


def _expand_pattern(regex: str, lists: dict[str, tuple[str, ...]]) -> str:
    """Replace ``{list}`` references by an alternation of the list's normalised words; check it compiles."""

    def expand(m: re.Match[str]) -> str:
        words = lists[m.group(1)]
        alts = sorted({" ".join(tokenize(w)[1]) for w in words}, key=len, reverse=True)
        return "(?:" + "|".join(re.escape(a) for a in alts if a) + ")"

    expanded = _LIST_REF_RE.sub(expand, regex)
    re.compile(expanded)
    return expanded


def _expand_anchors(anchors: Sequence[str], lists: dict[str, tuple[str, ...]]) -> list[str]:
    """Anchor phrases with ``{list}`` references replaced by the words of the list."""
    out: list[str] = []
    for anchor in anchors:
        ref = _LIST_REF_RE.fullmatch(anchor.strip())
        out.extend(lists[ref.group(1)] if ref else [anchor])
    return [a.lower() for a in out]  # anchors never depend on capitalisation


@dataclass(frozen=True)
class _Phrase:
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
        tokens = raw if self.case_sensitive else low
        if i + len(self.words) > len(tokens):
            return False
        for j, word in enumerate(self.words):
            tok = tokens[i + j]
            if not (tok.startswith(word) if self.prefix[j] else tok == word):
                return False
        return True


def _parse_phrase(phrase: str, topic: int, kind: Kind, weight: float, label: str | None = None) -> _Phrase:
    case_sensitive = any(c.isupper() for c in phrase)
    words: list[str] = []
    prefix: list[bool] = []
    for word in phrase.split():
        raw, low = tokenize(word.rstrip("*"))
        parts = raw if case_sensitive else low
        words.extend(parts)
        prefix.extend([False] * (len(parts) - 1) + [word.endswith("*")])
    second = words[1] if len(words) > 1 and not prefix[1] and not case_sensitive else None
    return _Phrase(topic, kind, label or phrase, weight, tuple(words), tuple(prefix), case_sensitive, second)


class _PhraseIndex:
    """All phrases of all topics, indexed by their first word for a single pass over the tokens."""

    def __init__(self, phrases: list[_Phrase]) -> None:
        self._exact: dict[str, list[_Phrase]] = {}
        # Phrases whose first word is a prefix ("migra*"), by that prefix, with their order among them:
        # a token is looked up once per distinct prefix length instead of against every prefix.
        self._prefixed: dict[str, list[tuple[int, _Phrase]]] = {}
        order = 0
        for phrase in phrases:
            if phrase.prefix[0]:
                self._prefixed.setdefault(phrase.words[0].lower(), []).append((order, phrase))
                order += 1
            else:
                self._exact.setdefault(phrase.words[0].lower(), []).append(phrase)
        self._prefix_lengths = sorted({len(p) for p in self._prefixed})
        self._cache: dict[str, list[_Phrase]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": {}}  # a worker process builds its own token cache

    def _candidates(self, low: str) -> list[_Phrase]:
        prefixed = [
            hit for n in self._prefix_lengths if n <= len(low) for hit in self._prefixed.get(low[:n], ())
        ]
        found = self._exact.get(low, []) + [phrase for _, phrase in sorted(prefixed, key=lambda h: h[0])]
        if len(self._cache) >= _PREFIX_CACHE_MAX:
            self._cache.clear()
        self._cache[low] = found
        return found

    def scan(self, raw: Sequence[str], low: Sequence[str], offset: int) -> list[tuple[_Phrase, int, int]]:
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
class _TopicPatterns:
    """The patterns of one topic: those without anchors combined into one regex (a named group each),
    those with anchors compiled alone and run only when the phrase scan met one of their anchors."""

    always: re.Pattern[str] | None
    anchored: dict[str, re.Pattern[str]]
    phrases: dict[str, _Phrase]
    anchor_phrases: list[_Phrase]


def _compile_topic_patterns(
    topic: int, rules: Sequence[PatternRule], lists: dict[str, tuple[str, ...]]
) -> _TopicPatterns:
    always: list[str] = []
    anchored: dict[str, re.Pattern[str]] = {}
    phrases: dict[str, _Phrase] = {}
    anchor_phrases: list[_Phrase] = []
    for i, rule in enumerate(rules):
        group = f"nfpat{i}"
        regex = f"(?P<{group}>{_expand_pattern(rule.regex, lists)})"
        phrases[group] = _Phrase(topic, rule.kind, f"pattern:{rule.name}", rule.weight, (), (), False, None)
        if rule.anchors:
            anchored[group] = re.compile(rf"(?<!\w){regex}(?!\w)")
            anchor_phrases += [
                _parse_phrase(a, topic, "anchor", 0.0, group) for a in _expand_anchors(rule.anchors, lists)
            ]
        else:
            always.append(regex)
    combined = re.compile(r"(?<!\w)(?:" + "|".join(always) + r")(?!\w)") if always else None
    return _TopicPatterns(combined, anchored, phrases, anchor_phrases)


# ----------------------------------------------------------------------------------------------------
# Classifier
# ----------------------------------------------------------------------------------------------------


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


@dataclass
class _Hit:
    phrase: _Phrase
    start: int
    end: int
    sentence: int


class Classifier:
    """Scores articles against every topic of a taxonomy (the packaged default when ``None``)."""

    def __init__(self, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy: Taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
        self.topics: list[str] = self.taxonomy.names
        self.version: str = f"{METHOD_VERSION}+{self.taxonomy.fingerprint()}"
        phrases: list[_Phrase] = []
        self._patterns: list[_TopicPatterns] = []
        for t, name in enumerate(self.topics):
            cfg = self.taxonomy.topics[name]
            phrases += [_parse_phrase(p, t, "core", w) for p, w in cfg.terms.items()]
            phrases += [_parse_phrase(p, t, "support", w) for p, w in cfg.support.items()]
            phrases += [_parse_phrase(p, t, "penalty", w) for p, w in cfg.penalty.items()]
            phrases += [_parse_phrase(p, t, "exclude", 0.0) for p in cfg.exclude]
            self._patterns.append(_compile_topic_patterns(t, cfg.patterns, self.taxonomy.lists))
            phrases += self._patterns[-1].anchor_phrases
        self._index = _PhraseIndex(phrases)

    def classify(self, title: str | None, body: str | None) -> list[TopicScore]:
        """Score one article: one :class:`TopicScore` per topic, in taxonomy order."""
        title_raw, title_low = tokenize(title or "")
        body_raw, body_low, body_sentence_of = _tokenize_sentences(body or "", 1)
        n_title = len(title_low)
        sentence_of = [0] * n_title + body_sentence_of
        by_topic: list[list[_Hit]] = [[] for _ in self.topics]
        anchors_met: list[set[str]] = [set() for _ in self.topics]
        for phrase, start, end in self._index.scan(title_raw, title_low, 0) + self._index.scan(
            body_raw, body_low, n_title
        ):
            if phrase.kind == "anchor":
                anchors_met[phrase.topic].add(phrase.label)
            else:
                by_topic[phrase.topic].append(_Hit(phrase, start, end, sentence_of[start]))

        parts = [(" ".join(title_low), title_low, 0), (" ".join(body_low), body_low, n_title)]
        for t, compiled in enumerate(self._patterns):
            regexes = [compiled.anchored[group] for group in sorted(anchors_met[t])]
            if compiled.always is not None:
                regexes.append(compiled.always)
            if regexes:
                by_topic[t] += _pattern_hits(regexes, compiled.phrases, parts, sentence_of)

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
        self, name: str, hits: list[_Hit], n_title: int, length_factor: float, n_tokens: int
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


def _pattern_hits(
    regexes: Sequence[re.Pattern[str]],
    phrases: dict[str, _Phrase],
    parts: Sequence[tuple[str, list[str], int]],
    sentence_of: Sequence[int],
) -> list[_Hit]:
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
            hits.append(_Hit(phrases[group], first, last, sentence_of[first]))
    return hits
