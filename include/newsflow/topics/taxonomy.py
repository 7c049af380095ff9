"""The topic taxonomy: the YAML file's records (topics, phrases, patterns, scoring), validated and loaded.

Validation names the offending key, so a bad taxonomy fails when it is read, not midway through a run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newsflow.config import ConfigError, parse_yaml
from newsflow.topics.tokens import TOKEN_RE, tokenize

METHOD_VERSION = "lex-1"
"""Bump whenever the matching or scoring code changes; it is part of :attr:`Classifier.version`."""

DEFAULT_TAXONOMY_FILE = Path(__file__).resolve().parents[1] / "config" / "taxonomy.yaml"

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_LIST_REF_RE = re.compile(r"\{([a-z][a-z0-9_]*)\}")


class TaxonomyError(ConfigError):
    """A taxonomy file is missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_phrase(phrase: str) -> str:
    words = phrase.split()
    if not words or not TOKEN_RE.search(phrase):
        raise ValueError(f"phrase {phrase!r} has no word characters")
    for word in words:
        if "*" in word.rstrip("*") or word.count("*") > 1 or not TOKEN_RE.search(word):
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
                    expand_pattern(rule.regex, self.lists)
                    expand_anchors(rule.anchors, self.lists)
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


def expand_pattern(regex: str, lists: dict[str, tuple[str, ...]]) -> str:
    """Replace ``{list}`` references by an alternation of the list's normalised words; check it compiles."""

    def expand(m: re.Match[str]) -> str:
        words = lists[m.group(1)]
        alts = sorted({" ".join(tokenize(w)[1]) for w in words}, key=len, reverse=True)
        return "(?:" + "|".join(re.escape(a) for a in alts if a) + ")"

    expanded = _LIST_REF_RE.sub(expand, regex)
    re.compile(expanded)
    return expanded


def expand_anchors(anchors: Sequence[str], lists: dict[str, tuple[str, ...]]) -> list[str]:
    """Anchor phrases with ``{list}`` references replaced by the words of the list."""
    out: list[str] = []
    for anchor in anchors:
        ref = _LIST_REF_RE.fullmatch(anchor.strip())
        out.extend(lists[ref.group(1)] if ref else [anchor])
    return [a.lower() for a in out]  # anchors never depend on capitalisation
