"""Training a next-token model with the numpy reference RNN (`--set text.backend=numpy`).

The course's character model, end to end without TensorFlow: one recurrent layer (rnn, gru or
lstm) over one-hot inputs, softmax output, backpropagation through time
(`numpy_train.loss_and_grads`), global-norm clipping and Adam, on the same teacher-forcing
windows as the Keras loop. The best weights are written in the Keras layout (`export.npz`), so
`generate` and `evaluate` run them through the same `NumpyEngine` as a Keras-trained run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from jazzgen.core.files import atomic_path
from jazzgen.core.loop import StepBackend, TrainResult, run_epochs
from jazzgen.core.models import ModelConfig, save_export
from jazzgen.core.numpy_rnn import FORWARD, init_params
from jazzgen.core.numpy_train import (
    Adam,
    clip_by_global_norm,
    loss_and_grads,
    output_forward,
    softmax_cross_entropy,
)


def params_to_keras(cell: str, p: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Course-notation params of one layer -> Keras (kernel, recurrent_kernel, bias).

    The inverse of `numpy_rnn.params_from_keras`; a GRU comes out with reset_after=False (a
    1-D bias), which the numpy engine reads. Keras's GRU gate z keeps the old state, so z = -Γu.
    """
    if cell == "rnn":
        return p["Wax"].T, p["Waa"].T, p["ba"].ravel()
    n_a = p["bc"].shape[0]
    gates = {"gru": ("u", "r", "c"), "lstm": ("i", "f", "c", "o")}[cell]   # Keras column order
    kernels, recurrents, biases = [], [], []
    for g in gates:
        sign = -1.0 if (cell, g) == ("gru", "u") else 1.0
        W = sign * p["W" + g]                                             # (n_a, n_a + n_x), [a; x]
        recurrents.append(W[:, :n_a].T)                                   # (n_a, n_a)
        kernels.append(W[:, n_a:].T)                                      # (n_x, n_a)
        biases.append(sign * p["b" + g].ravel())
    return np.concatenate(kernels, 1), np.concatenate(recurrents, 1), np.concatenate(biases)


def export_numpy_params(cell: str, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weights dict `save_export` writes, for a one-layer, one-hot model."""
    kernel, recurrent_kernel, bias = params_to_keras(cell, p)
    return {"layer0/kernel": kernel, "layer0/recurrent_kernel": recurrent_kernel,
            "layer0/bias": bias, "head/kernel": p["Wya"].T, "head/bias": p["by"].ravel()}


def _one_hot(x: np.ndarray, n: int) -> np.ndarray:
    """ids (m, T) -> one-hot (n, m, T), the course layout."""
    return np.eye(n)[x].transpose(2, 0, 1)


def _batch_loss(params, cell, x, y, vocab_size, with_grads):
    """Mean loss per real (unpadded) target of one batch, and its gradients if asked."""
    mask = (y != 0).astype(np.float64)                                    # (m, T): 0 = padding
    n_targets = max(mask.sum(), 1.0)
    xs = _one_hot(x, vocab_size)                                          # (V, m, T)
    m = x.shape[0]
    if with_grads:
        loss, grads = loss_and_grads(params, cell, xs, y, mask)           # summed over T, / m
        scale = m / n_targets                                             # -> mean per target
        return loss * scale, {k: grads[k] * scale for k in ("d" + name for name in params)}
    a, _ = FORWARD[cell](xs, np.zeros((params["Wya"].shape[1], m)), params)
    logits, _ = output_forward(a, params)
    loss, _ = softmax_cross_entropy(logits, y, mask)
    hits = ((logits.argmax(axis=0) == y) * mask).sum()
    return loss * m / n_targets, hits / n_targets


class NumpyBackend(StepBackend):
    """The numpy reference RNN: one layer, one-hot input, BPTT, global-norm clipping, Adam."""

    suffix = " (numpy)"

    def __init__(self, model_config: ModelConfig, vocab_size: int, train_xy, val_xy, run_dir: Path,
                 batch_size: int, learning_rate: float, clip_norm: float, seed: int):
        self.cell, n_a = model_config.cell, model_config.units
        self.export_cfg = replace(model_config, embedding_dim=0, layers=1, dropout=0.0)
        self.vocab_size, self.run_dir = vocab_size, run_dir
        self.params = init_params(self.cell, vocab_size, n_a, np.random.default_rng(seed),
                                  n_y=vocab_size, scale=1 / math.sqrt(n_a))
        if self.cell == "lstm":
            self.params["bf"] += 1.0                                      # remember by default
        self.adam = Adam(lr=learning_rate)
        self.train_xy, self.val_xy = train_xy, val_xy
        self.batch_size, self.clip_norm, self.seed = batch_size, clip_norm, seed

    def restore(self, path: Path) -> dict:
        with np.load(path) as data:
            self.params = {k[2:]: data[k] for k in data.files if k.startswith("p/")}
            self.adam.m = {k[2:]: data[k] for k in data.files if k.startswith("m/")}
            self.adam.v = {k[2:]: data[k] for k in data.files if k.startswith("v/")}
            state = json.loads(str(data["state"]))
        self.adam.t = state.pop("adam_t")
        return state

    def save(self, path: Path, state: dict) -> None:
        arrays = {f"p/{k}": v for k, v in self.params.items()}
        arrays.update({f"m/{k}": v for k, v in self.adam.m.items()})
        arrays.update({f"v/{k}": v for k, v in self.adam.v.items()})
        arrays["state"] = np.array(json.dumps({**state, "adam_t": self.adam.t}))
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    def train_epoch(self, epoch: int) -> tuple[float, str]:
        x, y = self.train_xy
        order = np.random.default_rng([self.seed, epoch]).permutation(len(x))
        total = count = 0.0
        for b in range(0, len(order), self.batch_size):
            idx = order[b: b + self.batch_size]
            loss, grads = _batch_loss(self.params, self.cell, x[idx], y[idx], self.vocab_size,
                                      with_grads=True)
            grads, _ = clip_by_global_norm(grads, self.clip_norm)
            self.adam.step(self.params, grads)
            n = float((y[idx] != 0).sum())
            total, count = total + loss * n, count + n
        return total / max(count, 1.0), ""                                # no training accuracy

    def evaluate(self, epoch: int) -> tuple[float, float]:
        x, y = self.val_xy
        total = hits = count = 0.0
        for b in range(0, len(x), 256):
            n = float((y[b: b + 256] != 0).sum())
            loss, acc = _batch_loss(self.params, self.cell, x[b: b + 256], y[b: b + 256],
                                    self.vocab_size, False)
            total, hits, count = total + loss * n, hits + acc * n, count + n
        return (total / count if count else float("nan")), hits / max(count, 1.0)

    def export_best(self) -> None:
        save_export(self.run_dir / "export.npz", self.export_cfg, self.vocab_size,
                    export_numpy_params(self.cell, self.params))


def fit_numpy(model_config: ModelConfig, vocab_size: int, train_xy, val_xy, run_dir: Path, *,
              batch_size: int, learning_rate: float, clip_norm: float, seed: int,
              log: Callable[[str], None] = print, **loop) -> TrainResult:
    """Train a one-layer one-hot model on windows; writes export.npz, checkpoint.npz, history.csv.

    Args:
        model_config: cell and units are used; layers must be 1 (one-hot input is implied).
        train_xy, val_xy: (x, y) int32 windows # (N, T); targets 0 are padding.
        loop: epochs, patience, max_minutes, checkpoint_every_s, resume (`core.loop.run_epochs`).
    """
    run_dir = Path(run_dir)
    backend = NumpyBackend(model_config, vocab_size, train_xy, val_xy, run_dir, batch_size,
                           learning_rate, clip_norm, seed)
    return run_epochs(backend, run_dir, log=log, **loop)
