"""Structured decoding for taggers: tag transitions counted in training, and Viterbi.

A tagger's per-word probabilities are decoded one word at a time by `argmax`, which can output
sequences no annotator would write (`O I-person`: an entity that never began). Here the tag
sequence as a whole is chosen: the path maximising

    sum_t log P(tag_t | words) + w (log P(tag_1 | start) + sum_t log P(tag_t | tag_t-1))

where the transition probabilities are counted on the training tags (add-one smoothed) and
moves that BIO forbids get probability 0, so they are never output. The weight w < 1 keeps the
transitions from counting twice what a bidirectional tagger's per-word probabilities already
know about the neighbours (w = 0 keeps only the BIO rules). Plain numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NEVER = -1e9  # log-score of a forbidden move: far below any sum of real log-probabilities


def allowed_moves(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Which tags may start a sentence (C,) and follow each tag (C, C), by the BIO rules.

    `I-x` may only follow `B-x` or `I-x`; any other tag may go anywhere. Tag sets that are not
    BIO (such as parts of speech) allow everything.
    """
    n = len(labels)
    start, move = np.ones(n, bool), np.ones((n, n), bool)
    for j, tag in enumerate(labels):
        if tag.startswith("I-"):
            kind = tag[2:]
            start[j] = False
            move[:, j] = [prev in (f"B-{kind}", f"I-{kind}") for prev in labels]
    return start, move


def transition_scores(sequences: Sequence[Sequence[str]], labels: Sequence[str]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Log-probabilities of the first tag (C,) and of each tag given the previous one (C, C).

    Counted on training tag sequences with add-one smoothing over the allowed moves; forbidden
    moves score `NEVER`.
    """
    index = {tag: i for i, tag in enumerate(labels)}
    n = len(labels)
    ok_start, ok_move = allowed_moves(labels)
    first, pairs = np.zeros(n), np.zeros((n, n))
    for tags in sequences:
        ids = [index[t] for t in tags if t in index]
        if ids:
            first[ids[0]] += 1
        for a, b in zip(ids[:-1], ids[1:], strict=True):
            pairs[a, b] += 1
    first, pairs = (first + 1) * ok_start, (pairs + 1) * ok_move
    with np.errstate(divide="ignore"):
        start = np.log(first / first.sum())
        move = np.log(pairs / pairs.sum(axis=1, keepdims=True))
    return np.where(ok_start, start, NEVER), np.where(ok_move, move, NEVER)


def weighted(scores: np.ndarray, weight: float) -> np.ndarray:
    """Transition scores times `weight`, forbidden moves staying forbidden (also for weight 0)."""
    return np.where(scores <= NEVER / 2, NEVER, weight * scores)


def viterbi(log_probs: np.ndarray, start: np.ndarray, move: np.ndarray) -> list[int]:
    """The best tag path for one sentence.

    Args:
        log_probs: per-word tag log-probabilities from the tagger # (T, C)
        start: log-score of each first tag # (C,)
        move: log-score of tag j after tag i at [i, j] # (C, C)
    Returns:
        T tag indices.
    """
    T = len(log_probs)
    if T == 0:
        return []
    score = start + log_probs[0]                                    # (C,)
    back = np.zeros((T, len(start)), np.int64)
    for t in range(1, T):
        total = score[:, None] + move                               # (C prev, C next)
        back[t] = total.argmax(axis=0)
        score = total[back[t], np.arange(len(start))] + log_probs[t]
    path = [int(score.argmax())]
    for t in range(T - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]
