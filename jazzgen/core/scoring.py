"""Held-out scoring: whole sequences stepped through an engine, and the log-softmax they need.

Each sequence is framed as [<bos>, ids..., <eos>]: the engine reads x = framed[:-1] from a zero
state and predicts y = framed[1:], so a sequence of T ids has T + 1 predicted values (its <eos>
counts). This is the probability of the whole sequence, P(y_1 .. y_T, <eos>) = prod_t
P(y_t | y_<t), unlike training's windows, which each start from a zero state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def log_softmax(logits: np.ndarray, axis: int = -1, allowed: np.ndarray | None = None) -> np.ndarray:
    """log softmax along `axis` (the class axis), in float64, shifted by the maximum for stability.

    Args:
        logits: (..., V) (or the class axis elsewhere, named by `axis`).
        allowed: optional boolean (V,) for the last axis: the softmax is renormalised over these
            classes only (the others get -inf).
    """
    z = np.array(logits, np.float64)
    if allowed is not None:
        z = np.where(allowed, z, -np.inf)
    z -= z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def stepped_targets(engine, sequences: Sequence[Sequence[int]], bos: int, eos: int,
                    batch_size: int = 256) -> Iterator[tuple[np.ndarray, int, np.ndarray, np.ndarray]]:
    """Step every framed sequence through `engine`; yield what each step predicts.

    Sequences run longest first in batches of `batch_size`; a finished sequence leaves the batch
    (no padding is ever fed).

    Yields:
        (which (live,) indices into `sequences`, t, logits (live, V) float64, targets (live,)).
    """
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]), reverse=True)
    for b in range(0, len(order), batch_size):
        idx = np.array(order[b: b + batch_size])
        framed = [np.concatenate([[bos], np.asarray(sequences[i], np.int64), [eos]]) for i in idx]
        lengths = np.array([len(f) - 1 for f in framed])                 # predictions per sequence
        x = np.zeros((len(idx), lengths[0]), np.int64)                   # (B, T)
        y = np.zeros_like(x)
        for j, f in enumerate(framed):
            x[j, : lengths[j]], y[j, : lengths[j]] = f[:-1], f[1:]
        state = engine.initial_state(len(idx))
        for t in range(int(lengths[0])):
            live = int((lengths > t).sum())                              # longest first: rows :live
            state = [s[:live] for s in state]
            logits, state = engine.step(x[:live, t], state)              # (live, V)
            yield idx[:live], t, np.asarray(logits, np.float64), y[:live, t]


def sequence_log_probs(engine, sequences: Sequence[Sequence[int]], bos: int, eos: int,
                       batch_size: int = 256) -> list[np.ndarray]:
    """log P(y_t | <bos>, y_<t) for every id of every sequence and the <eos> that ends it.

    Returns:
        one array per sequence # (T_i + 1,)
    """
    out = [np.zeros(len(s) + 1) for s in sequences]
    for which, t, logits, y in stepped_targets(engine, sequences, bos, eos, batch_size):
        picked = log_softmax(logits)[np.arange(len(y)), y]
        for i, value in zip(which, picked, strict=True):
            out[i][t] = value
    return out


def mean_nll(engine, sequences: Sequence[Sequence[int]], bos: int, eos: int,
             batch_size: int = 256) -> tuple[float, float, int]:
    """Mean negative log-likelihood (nats) and top-1 accuracy over every predicted value.

    Returns:
        (mean NLL in nats, accuracy, number of predicted values).
    """
    total, correct, count = 0.0, 0, 0
    for _, _, logits, y in stepped_targets(engine, sequences, bos, eos, batch_size):
        total -= float(log_softmax(logits)[np.arange(len(y)), y].sum())
        correct += int((logits.argmax(axis=1) == y).sum())
        count += len(y)
    return total / count, correct / count, count


TEMPERATURES = tuple(round(0.8 + 0.025 * k, 3) for k in range(29))  # 0.8 .. 1.5


def nll_by_temperature(engine, sequences: Sequence[Sequence[int]], bos: int, eos: int,
                       temperatures: Sequence[float] = TEMPERATURES, batch_size: int = 256) -> np.ndarray:
    """Mean NLL (nats) of every predicted value with the logits divided by each temperature # (K,).

    One pass over the sequences: each step's logits are scored at every temperature.
    """
    scale = 1.0 / np.asarray(temperatures, np.float64)                            # (K,)
    total, count = np.zeros(len(scale)), 0
    for _, _, logits, y in stepped_targets(engine, sequences, bos, eos, batch_size):
        z = np.asarray(logits, np.float64)[None] * scale[:, None, None]           # (K, B, V)
        z -= z.max(axis=2, keepdims=True)
        log_z = np.log(np.exp(z).sum(axis=2))                                      # (K, B)
        total -= (z[:, np.arange(len(y)), y] - log_z).sum(axis=1)
        count += len(y)
    return total / max(count, 1)


def fit_temperature(engine, sequences: Sequence[Sequence[int]], bos: int, eos: int) -> tuple[float, float, float]:
    """The temperature that minimises held-out NLL (temperature scaling: Guo et al., "On
    Calibration of Modern Neural Networks", ICML 2017): (temperature, NLL at 1, NLL at it).

    A network trained with dropout and early stopping is usually too sure of itself on data it
    has not seen; one scalar on its logits fixes that without changing which value is likeliest.
    """
    nll = nll_by_temperature(engine, sequences, bos, eos)
    best = int(np.argmin(nll))
    return TEMPERATURES[best], float(nll[TEMPERATURES.index(1.0)]), float(nll[best])
