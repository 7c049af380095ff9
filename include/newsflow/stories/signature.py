"""What makes two articles copies of one story: MinHash signatures of their bodies' word shingles
(datasketch), their LSH band keys, and the overlap estimated from two signatures.

A body is read as its word 5-grams (lower-cased). Two signatures estimate the Jaccard similarity of two
shingle sets; with the sets' sizes that gives their overlap, as a share of the smaller set (containment):
about 1 for a retitled copy, a truncated copy or one with a dateline or an editor's note added, 0.8-0.9 for an
update that rewrote a paragraph of ten, and near 0 for another report of the same event in other words.

Candidates come from LSH band keys, of the whole body's signature and of its lead's (its first words): a copy
that keeps only the first half of an article shares the lead but only half the shingles.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np

from newsflow.models import StorySignature

SHINGLE_WORDS = 5
NUM_PERM = 128
BODY_BANDS, ROWS = 32, 4  # 32 bands of 4 rows: a pair at Jaccard 0.5 is a candidate with probability 0.87
LEAD_WORDS = 80
LEAD_PERM = 64  # 16 bands of 4 rows on the lead
SEED = 1
_WORD_RE = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Signature:
    """A body's MinHash signatures (whole body and lead) and its number of distinct shingles."""

    body: np.ndarray
    lead: np.ndarray
    shingles: int

    def keys(self) -> list[int]:
        """The LSH band keys: ``BODY_BANDS`` of the body's signature, ``LEAD_PERM / ROWS`` of the lead's."""
        return [int(k) for k in keys_of(self.body[None, :], self.lead[None, :])[0]]

    def to_bytes(self) -> tuple[bytes, bytes]:
        return self.body.astype("<u4").tobytes(), self.lead.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, body: bytes, lead: bytes, shingles: int) -> Signature:
        return cls(np.frombuffer(body, dtype="<u4"), np.frombuffer(lead, dtype="<u4"), shingles)

    @classmethod
    def of(cls, record: StorySignature) -> Signature:
        return cls.from_bytes(record.signature, record.lead_signature, record.shingles)


def story_signature(text: str, body_hash: str) -> StorySignature:
    """The signatures of a body, as a record that travels with its article to the load."""
    sig = signature(text)
    body, lead = sig.to_bytes()
    return StorySignature(body_hash, sig.shingles, body, lead)


@cache
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    from datasketch import MinHash  # imported on first use: it brings scipy (0.4 s), which readers never need

    return MinHash(num_perm=num_perm, seed=SEED).permutations  # type: ignore[no-any-return]


def _minhash(shingles: set[bytes], num_perm: int) -> np.ndarray:
    from datasketch import MinHash

    # CRC-32 hashes the shingles (C, stable across processes): half the cost of datasketch's default SHA-1
    m = MinHash(
        num_perm=num_perm,
        seed=SEED,
        permutations=_permutations(num_perm),
        scheme="affine32",
        hashfunc=zlib.crc32,
    )
    if shingles:
        m.update_batch(list(shingles))
    return np.asarray(m.hashvalues, dtype=np.uint32)


def shingles(words: list[str]) -> set[bytes]:
    """The word ``SHINGLE_WORDS``-grams of ``words`` (a text shorter than that is one shingle)."""
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + SHINGLE_WORDS]).encode() for i in range(len(words) - SHINGLE_WORDS + 1)}


def signature(text: str) -> Signature:
    words = _WORD_RE.findall(text.lower())
    whole = shingles(words)
    return Signature(_minhash(whole, NUM_PERM), _minhash(shingles(words[:LEAD_WORDS]), LEAD_PERM), len(whole))


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise (uint64 arithmetic wraps)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed: np.ndarray = x ^ (x >> np.uint64(31))
    return mixed


def band_keys(values: np.ndarray, kind: int) -> np.ndarray:
    """One signed 64-bit key per band of ``ROWS`` values, for every row of ``values`` (articles x values):
    the band's values, its number and ``kind`` mixed together. Vectorised: a batch's keys in one pass."""
    n, width = values.shape
    bands = width // ROWS
    v = values.astype(np.uint64).reshape(n, bands, ROWS)
    salt = np.arange(bands, dtype=np.uint64) + np.full(bands, kind, dtype=np.uint64) * _GOLDEN  # wraps
    h = np.broadcast_to(_mix(salt), (n, bands)).copy()
    for r in range(ROWS):
        h = _mix(h ^ (v[:, :, r] + _GOLDEN))
    return h.view(np.int64)


def keys_of(bodies: np.ndarray, leads: np.ndarray) -> np.ndarray:
    """The LSH keys of a batch of signatures (articles x (``BODY_BANDS`` + lead bands))."""
    return np.concatenate([band_keys(bodies, 1), band_keys(leads, 2)], axis=1)


@dataclass(frozen=True)
class Overlap:
    """Two bodies' estimated similarity: Jaccard of their shingle sets, the share of the smaller set found in
    the larger (containment), and the Jaccard similarity of their leads."""

    jaccard: float
    containment: float
    lead_jaccard: float


def overlap(a: Signature, b: Signature) -> Overlap:
    jaccard = float(np.mean(a.body == b.body))
    lead = float(np.mean(a.lead == b.lead))
    smaller = min(a.shingles, b.shingles)
    if smaller == 0:
        return Overlap(jaccard, 0.0, lead)
    shared = jaccard * (a.shingles + b.shingles) / (1 + jaccard)
    return Overlap(jaccard, min(1.0, shared / smaller), lead)
