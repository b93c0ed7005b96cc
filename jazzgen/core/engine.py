"""Sampling engines: the same one-step interface over numpy or the Keras step model.

An engine has `initial_state(batch_size) -> state` and `step(ids (B,), state) -> (logits (B, V),
state)`, where `state` is a list of (B, n_a) arrays in the step model's order (h0, c0, h1, ...).
`NumpyEngine` runs from an export file without TensorFlow (this module never imports it);
`KerasEngine` wraps the Keras step model. `choose` turns logits into ids the same way for both,
so with one seed the two engines draw the same sequences.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from jazzgen.core.gates import apply_gates, gates_from_weights
from jazzgen.core.models import ModelConfig, load_export
from jazzgen.core.numpy_rnn import keras_sequence, keras_step


class NumpyEngine:
    """The exported network in numpy (Keras weight layout, batch-first), float32 by default."""

    def __init__(self, cfg: ModelConfig, weights: dict[str, np.ndarray],
                 vocab_size: int | None = None, dtype: Any = np.float32):
        self.cfg = cfg
        self.w = {k: np.asarray(v, dtype) for k, v in weights.items()}
        if vocab_size is None:  # the rows of the input lookup (one-hot: of the first kernel)
            first = ("embedding" if cfg.embedding_dim else
                     "layer0/forward/kernel" if cfg.bidirectional else "layer0/kernel")
            vocab_size = self.w[first].shape[0]
        self.vocab_size = vocab_size
        # One-hot input is a lookup in the identity matrix, as in the Keras model.
        self.embedding = self.w["embedding"] if cfg.embedding_dim else np.eye(vocab_size,
                                                                              dtype=dtype)
        self.dtype = dtype
        self.gates = gates_from_weights(self.w)  # an ungated model has none

    @classmethod
    def from_export(cls, path_npz: str | os.PathLike, dtype: Any = np.float32) -> NumpyEngine:
        """Engine from an `.npz` written by `models.save_export`."""
        cfg, vocab_size, weights = load_export(path_npz)
        try:
            engine = cls(cfg, weights, vocab_size, dtype)
            if cfg.head == "next":  # one step now: missing or misshapen weights fail here, named
                probe = (np.zeros((1, 1 + cfg.condition_dim), dtype) if cfg.condition_dim
                         else np.zeros(1, np.int64))
                logits, _ = engine.step(probe, engine.initial_state(1))
                if logits.shape != (1, engine.vocab_size):
                    raise ValueError(f"{logits.shape[-1]} outputs for a vocabulary of {engine.vocab_size}")
        except (KeyError, ValueError, IndexError) as e:
            raise _damaged(path_npz, e) from e
        return engine

    def _layer(self, i: int, direction: str = "") -> tuple[np.ndarray, ...]:
        """(kernel, recurrent_kernel, bias) of layer i; direction "forward/" or "backward/"."""
        return tuple(self.w[f"layer{i}/{direction}{n}"]
                     for n in ("kernel", "recurrent_kernel", "bias"))

    def _inputs(self, ids: np.ndarray) -> np.ndarray:
        """Embedded ids (..., E); a conditioned model takes rows [id, features...] (..., 1 + F)
        and gets [embedding, features] (..., E + F), as its Keras graph does."""
        if not self.cfg.condition_dim:
            return self.embedding[np.asarray(ids)]
        rows = np.asarray(ids, self.dtype)
        if rows.shape[-1] != 1 + self.cfg.condition_dim:
            raise ValueError(f"a conditioned model takes rows of 1 + {self.cfg.condition_dim} "
                             f"values, got shape {rows.shape}")
        return np.concatenate([self.embedding[rows[..., 0].astype(np.int64)], rows[..., 1:]],
                              axis=-1)

    def initial_state(self, batch_size: int) -> list[np.ndarray]:
        """Zero states, one (B, n_a) array per name in `cfg.state_names()`."""
        return [np.zeros((batch_size, self.cfg.units), self.dtype) for _ in self.cfg.state_names()]

    def step(self, ids: np.ndarray, state: list[np.ndarray]
             ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Feed one id per sequence: ids (B,) -> (logits (B, V), new state)."""
        if self.cfg.head != "next":
            raise ValueError("only a head 'next' model can be stepped")
        x = self._inputs(ids)                                             # (B, E [+ F])
        k = len(state) // self.cfg.layers                                # states per layer
        new_state: list[np.ndarray] = []
        for i in range(self.cfg.layers):
            s = keras_step(self.cfg.cell, x, tuple(state[i * k: (i + 1) * k]), self._layer(i))
            new_state += s
            x = s[0]                                                      # h feeds the next layer
        logits = x @ self.w["head/kernel"] + self.w["head/bias"]          # (B, V)
        return apply_gates(logits, ids, self.gates), new_state

    def forward(self, ids: np.ndarray) -> np.ndarray:
        """The training graph on whole windows (no padding mask): ids (B, T) -> logits.

        Returns (B, T, C) for heads "next"/"tag", (B, C) for "classify".
        """
        x = self._inputs(ids)                                             # (B, T, E [+ F])
        for i in range(self.cfg.layers):
            last_only = self.cfg.head == "classify" and i == self.cfg.layers - 1
            if self.cfg.bidirectional:
                f, _ = keras_sequence(self.cfg.cell, x, self._layer(i, "forward/"))
                b, _ = keras_sequence(self.cfg.cell, x, self._layer(i, "backward/"), reverse=True)
                # the backward pass ends at step 0: that is its many-to-one output
                x = np.concatenate([f[:, -1], b[:, 0]] if last_only else [f, b], axis=-1)
            else:
                out, _ = keras_sequence(self.cfg.cell, x, self._layer(i))
                x = out[:, -1] if last_only else out                      # (B, n_a) or (B, T, n_a)
        return apply_gates(x @ self.w["head/kernel"] + self.w["head/bias"], ids, self.gates)


class KerasEngine:
    """The Keras step model behind the engine interface (float32)."""

    def __init__(self, step_model: Any, cfg: ModelConfig):
        self.model = step_model
        self.cfg = cfg

    def initial_state(self, batch_size: int) -> list[np.ndarray]:
        return [np.zeros((batch_size, self.cfg.units), np.float32) for _ in self.cfg.state_names()]

    def step(self, ids: np.ndarray, state: list[np.ndarray]
             ) -> tuple[np.ndarray, list[np.ndarray]]:
        """ids (B,) or rows (B, 1 + F) -> (logits (B, V), new state), through the compiled
        predict function."""
        if self.cfg.condition_dim:
            ids = np.asarray(ids, np.float32)[:, None, :]                 # (B, 1, 1 + F)
        else:
            ids = np.asarray(ids, np.int32)[:, None]                      # (B, 1)
        logits, *new_state = self.model.predict_on_batch([ids, *state])
        return np.asarray(logits), [np.asarray(s) for s in new_state]


def choose(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
           top_k: int | None = None, mask: np.ndarray | None = None) -> np.ndarray:
    """Draw one id per row from softmax(logits / temperature), in float32.

    float32 halves the memory traffic of the softmax and cumulative sum, which dominate batched
    sampling (batch 64: about 14,000 -> 21,000 values/s); the engines' logits are float32 anyway.

    Exactly one `rng.random(B)` call per step, mapped through the inverse CDF, so two engines
    whose float32 logits differ in the last digits draw the same ids (almost always).

    Args:
        logits: (B, V).
        rng: `np.random.Generator`.
        temperature: > 0; 1.0 = no change, < 1.0 = less random, > 1.0 = more random.
        top_k: if set, draw only among each row's k most likely ids (ties at the k-th are kept).
        mask: optional boolean (V,) or (B, V): True = allowed.
    Returns:
        ids (B,) int64.
    Raises:
        ValueError: temperature <= 0, top_k < 1, or a mask that allows nothing in some row.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    # One float32 copy, then everything in place: this runs at every step of batched sampling.
    z = np.array(logits, np.float32)                                      # (B, V)
    if temperature != 1.0:
        z /= np.float32(temperature)
    if mask is not None:
        mask = np.asarray(mask, bool)
        # A (V,) mask is checked in O(V), not per row.
        if not (mask.any() if mask.ndim == 1 else mask.any(axis=1).all()):
            raise ValueError("mask allows no id for some sequence")
        np.copyto(z, -np.inf, where=~np.broadcast_to(mask, z.shape))
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        kth = np.sort(z, axis=1)[:, -min(top_k, z.shape[1])][:, None]     # k-th largest per row
        z = np.where(z >= kth, z, -np.inf)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z, out=z)                                                  # unnormalised softmax
    ids = _inverse_cdf(p, rng.random(len(z)))                             # one draw per row
    rows = np.arange(len(ids))
    stuck = p[rows, ids] == 0                    # u ~ 1 rounding can land past the last allowed id
    if stuck.any():
        last_allowed = p.shape[1] - 1 - np.argmax(p[:, ::-1] > 0, axis=1)
        ids = np.where(stuck, last_allowed, ids)
    return ids


_BLOCK = 64  # ids per block of the two-level inverse CDF


def _inverse_cdf(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """First id whose cumulative weight exceeds u * total, per row: p (B, V), u (B,) in [0, 1).

    A full cumulative sum over (B, V) is the slowest step of batched sampling, so this finds
    the block of 64 ids first (block sums, then a short cumulative sum), then the id inside it.
    """
    B, V = p.shape
    n_blocks = -(-V // _BLOCK)
    blocks = np.zeros((B, n_blocks * _BLOCK), p.dtype)
    blocks[:, :V] = p
    blocks = blocks.reshape(B, n_blocks, _BLOCK)                          # (B, nb, S)
    block_cdf = np.cumsum(blocks.sum(axis=2), axis=1)                     # (B, nb)
    target = u * block_cdf[:, -1]                                         # (B,)
    block = np.minimum((block_cdf <= target[:, None]).sum(axis=1), n_blocks - 1)
    rows = np.arange(B)
    before = np.where(block > 0, block_cdf[rows, block - 1], 0.0)         # weight of earlier blocks
    inner_cdf = np.cumsum(blocks[rows, block], axis=1)                    # (B, S)
    inner = np.minimum((inner_cdf <= (target - before)[:, None]).sum(axis=1), _BLOCK - 1)
    return np.minimum(block * _BLOCK + inner, V - 1)


def keras_engine_from_export(path_npz) -> KerasEngine:
    """A KerasEngine over the one-step graph rebuilt from an export file (imports TensorFlow)."""
    from jazzgen.core.models import build_models, import_weights, load_export

    export = load_export(path_npz)
    models = build_models(export.cfg, export.vocab_size, gates=gates_from_weights(export.weights))
    import_weights(models, export.cfg, export.weights)
    return KerasEngine(models.step, export.cfg)


def load_engine(path_npz, backend: str = "numpy"):
    """The sampling engine over an export file: "numpy" (TF-free) or "keras" (one-step graph)."""
    from jazzgen.errors import UsageError

    if backend not in ("numpy", "keras"):
        raise UsageError(f"unknown backend {backend!r} (numpy or keras)")
    if backend == "numpy":
        return NumpyEngine.from_export(path_npz)
    try:
        return keras_engine_from_export(path_npz)
    except (KeyError, ValueError, IndexError) as e:  # weights that do not fit the rebuilt graph
        raise _damaged(path_npz, e) from e


def _damaged(path_npz, e: Exception):
    from jazzgen.errors import InputError

    return InputError(path_npz, "damaged weights file", f"weights do not fit the model: {type(e).__name__}: {e}"[:200])
