"""Word tokens for matching: accents folded, punctuation dropped, and the sentence each token is in."""

from __future__ import annotations

import re
import unicodedata

TOKEN_RE = re.compile(r"\w+")
_COMBINING_RE = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"'\u201d)\]]*\s+(?=[^a-z\s])|\n\s*")


def _normalize(text: str) -> str:
    """Straighten apostrophes; fold accents and compatibility forms ("chargé" -> "charge", "ﬁ" -> "fi")."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'")
    if text.isascii():
        return text
    return _COMBINING_RE.sub("", unicodedata.normalize("NFKD", text))


def _lowered(raw: list[str], norm: str) -> list[str]:
    low: list[str] = TOKEN_RE.findall(norm.lower())
    return low if len(low) == len(raw) else [t.lower() for t in raw]


def tokenize(text: str) -> tuple[list[str], list[str]]:
    """Split text into word tokens: (as written, lowercased); both accent-folded, in the same order."""
    norm = _normalize(text)
    raw: list[str] = TOKEN_RE.findall(norm)
    return raw, _lowered(raw, norm)


def tokenize_sentences(text: str, first_id: int) -> tuple[list[str], list[str], list[int]]:
    """Like :func:`tokenize`, plus the sentence number of each token (numbered from ``first_id``)."""
    norm = _normalize(text)
    raw: list[str] = []
    sentence_of: list[int] = []
    sid = first_id
    for part in _SENTENCE_END_RE.split(norm):
        if part:
            toks = TOKEN_RE.findall(part)
            if toks:
                raw.extend(toks)
                sentence_of.extend([sid] * len(toks))
                sid += 1
    return raw, _lowered(raw, norm), sentence_of
