"""Vocabulary: a fixed, sorted mapping between token strings and integer ids.

Ids 0..3 are reserved specials; the rest are the corpus tokens in sorted order, so the same
corpus always gives the same ids (never `set()` iteration order).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)


@dataclass(frozen=True)
class Vocab:
    """Token <-> id table. Build with `Vocab.from_tokens`; ids are stable for equal inputs."""

    tokens: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with {SPECIALS}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("duplicate tokens in vocabulary")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def from_tokens(cls, tokens: Iterable[str], min_count: int = 1) -> Vocab:
        """Vocabulary of every token seen at least `min_count` times, specials first, then sorted."""
        counts: dict[str, int] = {}
        for t in tokens:
            counts[t] = counts.get(t, 0) + 1
        kept = sorted(t for t, n in counts.items() if n >= min_count and t not in SPECIALS)
        return cls(SPECIALS + tuple(kept))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def id(self, token: str) -> int:
        """Id of `token`, or of `<unk>` when it is not in the vocabulary."""
        return self._index.get(token, self._index[UNK])

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token strings -> ids (unknown tokens -> `<unk>`)."""
        return [self.id(t) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids -> token strings."""
        return [self.tokens[int(i)] for i in ids]

    def union(self, other: Vocab) -> Vocab:
        """This vocabulary's tokens with their ids unchanged, then `other`'s new tokens, sorted.

        A model trained on `self` keeps every id it knows; only rows for the new tokens are added.
        """
        new = sorted(t for t in other.tokens if t not in self._index)
        return Vocab(self.tokens + tuple(new))

    def id_map(self, to: Vocab) -> np.ndarray:
        """Lookup table from this vocabulary's ids to `to`'s ids (missing tokens -> `<unk>`). # (V,)"""
        return np.array([to.id(t) for t in self.tokens], dtype=np.int32)

    def to_json(self) -> str:
        return json.dumps({"tokens": list(self.tokens)}, ensure_ascii=False, indent=0)

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        return cls(tuple(json.loads(text)["tokens"]))

    @property
    def hash(self) -> str:
        """Short content hash: a run dir trained on another vocabulary is refused by it."""
        return hashlib.sha256("\n".join(self.tokens).encode()).hexdigest()[:16]
