"""A smoothed n-gram baseline over integer id sequences (no musical meaning).

The neural models must beat this to be worth their training time. The smoothing is interpolated
Kneser-Ney (Chen & Goodman, "An Empirical Study of Smoothing Techniques for Language Modeling",
1998, section 3.5): at each order the discounted counts are interpolated with the next lower
order, the lower orders count *continuations* (how many different ids precede an n-gram) rather
than occurrences, and the unigram level is interpolated with the uniform distribution over the
vocabulary, so every id 0..V-1 has nonzero probability after any context.

    P_k(w | h) = (max(c(h w) - D_k, 0) + D_k * N1+(h .) * P_{k-1}(w | h')) / c(h .)
    P_0(w)     = 1 / V

where h' drops the oldest id of h, c is the raw count at the highest order and the continuation
count below it, N1+(h .) is the number of distinct ids seen after h, and D_k = n1 / (n1 + 2 n2)
from the counts-of-counts at order k (Ney's estimate). A context never seen at order k passes the
lower-order probability through unchanged.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from jazzgen.core.vocab import BOS, SPECIALS

_DEFAULT_DISCOUNT = 0.75  # used when an order has too few counts for Ney's estimate


class NGramModel:
    """Interpolated Kneser-Ney n-gram model over ids 0..vocab_size-1.

    Args:
        order: n, the number of ids in an n-gram (1 = unigram, 3 = trigram); >= 1.
        vocab_size: V; every predicted id must lie in 0..V-1.
        bos_id: the id padded (order - 1 times) before each sequence as context; it is never
            predicted. Defaults to the `<bos>` id of `jazzgen.core.vocab.Vocab`.
    """

    def __init__(self, order: int = 3, vocab_size: int = 0, bos_id: int = SPECIALS.index(BOS)):
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        self.order = order
        self.vocab_size = vocab_size
        self.bos_id = bos_id
        # tables[k][context of k-1 ids] = (counts of the next id, their total, distinct next ids)
        self.tables: list[dict[tuple[int, ...], tuple[dict[int, int], int, int]]] = [
            {} for _ in range(order + 1)
        ]
        self.discounts = [0.0] * (order + 1)  # D_k for k = 1..order; index 0 unused
        self.fitted = False

    def _padded(self, seq: Sequence[int]) -> list[int]:
        return [self.bos_id] * (self.order - 1) + [int(i) for i in seq]

    def _check_id(self, i: int) -> None:
        if not 0 <= i < self.vocab_size:
            raise ValueError(f"id {i} outside the vocabulary 0..{self.vocab_size - 1}")

    def fit(self, sequences: Iterable[Sequence[int]]) -> NGramModel:
        """Count n-grams of every order in `sequences` and estimate the discounts.

        Args:
            sequences: lists (or arrays) of ids in 0..vocab_size-1.

        Returns:
            self, for chaining.

        Raises:
            ValueError: an id outside the vocabulary.
        """
        n = self.order
        top: Counter[tuple[int, ...]] = Counter()  # raw counts of the full n-grams
        for seq in sequences:
            padded = self._padded(seq)
            for t in range(n - 1, len(padded)):
                self._check_id(padded[t])
                top[tuple(padded[t - n + 1 : t + 1])] += 1

        # Continuation counts: N1+(. g) for every lower-order n-gram g, found by dropping the
        # oldest id of each distinct higher-order n-gram.
        grams: list[Counter[tuple[int, ...]]] = [Counter() for _ in range(n + 1)]
        grams[n] = top
        for k in range(n - 1, 0, -1):
            for g in grams[k + 1]:
                grams[k][g[1:]] += 1

        for k in range(1, n + 1):
            by_context: dict[tuple[int, ...], dict[int, int]] = defaultdict(dict)
            for g, c in grams[k].items():
                by_context[g[:-1]][g[-1]] = c
            self.tables[k] = {
                h: (nexts, sum(nexts.values()), len(nexts)) for h, nexts in by_context.items()
            }
            n1 = sum(1 for c in grams[k].values() if c == 1)
            n2 = sum(1 for c in grams[k].values() if c == 2)
            self.discounts[k] = n1 / (n1 + 2 * n2) if n1 > 0 and n2 > 0 else _DEFAULT_DISCOUNT
        self.fitted = True
        return self

    def _context(self, context: Sequence[int]) -> tuple[int, ...]:
        """The last order-1 ids of `context`, left-padded with BOS."""
        ctx = [int(i) for i in context][-(self.order - 1) :] if self.order > 1 else []
        return tuple([self.bos_id] * (self.order - 1 - len(ctx)) + ctx)

    def prob(self, context: Sequence[int], next_id: int) -> float:
        """P(next_id | last order-1 ids of context); always > 0 for an id in the vocabulary."""
        self._check_id(next_id)
        ctx = self._context(context)
        p = 1.0 / self.vocab_size
        for k in range(1, self.order + 1):
            entry = self.tables[k].get(ctx[len(ctx) - (k - 1) :])
            if entry is None:
                continue  # unseen context: the lower order's estimate passes through
            nexts, total, types = entry
            d = self.discounts[k]
            p = (max(nexts.get(next_id, 0) - d, 0.0) + d * types * p) / total
        return p

    def log_prob(self, context: Sequence[int], next_id: int) -> float:
        """Natural log of `prob(context, next_id)`."""
        return math.log(self.prob(context, next_id))

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """The whole next-id distribution after `context`, shape (V,); sums to 1."""
        ctx = self._context(context)
        p = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for k in range(1, self.order + 1):
            entry = self.tables[k].get(ctx[len(ctx) - (k - 1) :])
            if entry is None:
                continue
            nexts, total, types = entry
            d = self.discounts[k]
            counts = np.zeros(self.vocab_size)
            counts[list(nexts)] = list(nexts.values())
            p = (np.maximum(counts - d, 0.0) + d * types * p) / total
        return p

    def mean_nll(self, sequences: Iterable[Sequence[int]]) -> float:
        """Mean negative log-likelihood in nats per predicted id.

        Each id is predicted from the order-1 ids before it, the sequence being left-padded
        with `bos_id`, so every id of every sequence is predicted exactly once.

        Raises:
            ValueError: no ids to predict, or an id outside the vocabulary.
        """
        total, count = 0.0, 0
        n = self.order
        for seq in sequences:
            padded = self._padded(seq)
            for t in range(n - 1, len(padded)):
                total -= self.log_prob(padded[t - n + 1 : t], padded[t])
                count += 1
        if count == 0:
            raise ValueError("no ids to score")
        return total / count

    def perplexity(self, sequences: Iterable[Sequence[int]]) -> float:
        """exp(mean_nll): the effective number of equally likely choices per id."""
        return math.exp(self.mean_nll(sequences))
