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
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from jazzgen.core.files import atomic_path, read_npz
from jazzgen.core.models import ModelConfig, save_export
from jazzgen.core.numpy_rnn import FORWARD, init_params
from jazzgen.core.numpy_train import (
    Adam,
    clip_by_global_norm,
    loss_and_grads,
    output_forward,
    softmax_cross_entropy,
)
from jazzgen.core.training import (
    TrainResult,
    epoch_line,
    new_loop_state,
    record_epoch,
    stop_reason,
    write_history,
)
from jazzgen.errors import InputError


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


def fit_numpy(model_config: ModelConfig, vocab_size: int, train_xy, val_xy, run_dir: Path, *,
              epochs: int, batch_size: int, learning_rate: float, clip_norm: float,
              patience: int, seed: int, max_minutes: float = 0.0, resume: bool = False,
              log: Callable[[str], None] = print) -> TrainResult:
    """Train a one-layer one-hot model on windows; writes export.npz, checkpoint.npz, history.csv.

    Args:
        model_config: cell and units are used; layers must be 1 (one-hot input is implied).
        train_xy, val_xy: (x, y) int32 windows # (N, T); targets 0 are padding.
    """
    cell, n_a = model_config.cell, model_config.units
    export_cfg = replace(model_config, embedding_dim=0, layers=1, dropout=0.0)
    rng = np.random.default_rng(seed)
    params = init_params(cell, vocab_size, n_a, rng, n_y=vocab_size, scale=1 / math.sqrt(n_a))
    if cell == "lstm":
        params["bf"] += 1.0                                               # remember by default
    adam = Adam(lr=learning_rate)
    state = new_loop_state()
    ckpt = run_dir / "checkpoint.npz"
    if resume and ckpt.is_file():
        data = read_npz(ckpt)
        try:
            params = {k[2:]: v for k, v in data.items() if k.startswith("p/")}
            adam.m = {k[2:]: v for k, v in data.items() if k.startswith("m/")}
            adam.v = {k[2:]: v for k, v in data.items() if k.startswith("v/")}
            state = json.loads(str(data["state"]))
            adam.t = state.pop("adam_t")
        except (KeyError, ValueError, TypeError) as e:
            raise InputError(ckpt, "damaged checkpoint", f"{type(e).__name__}: {e}"[:160]
                             + "; train into a new -o to start over") from e
        log(f"resuming from epoch {state['epoch']} (best val loss {state['best_val_loss']})")

    x_train, y_train = train_xy
    x_val, y_val = val_xy
    start, stopped = time.perf_counter(), "epochs"
    try:
        while state["epoch"] < epochs:
            epoch, t0 = state["epoch"] + 1, time.perf_counter()
            order = np.random.default_rng([seed, epoch]).permutation(len(x_train))
            total = count = 0.0
            for b in range(0, len(order), batch_size):
                idx = order[b: b + batch_size]
                loss, grads = _batch_loss(params, cell, x_train[idx], y_train[idx], vocab_size,
                                          with_grads=True)
                grads, _ = clip_by_global_norm(grads, clip_norm)
                adam.step(params, grads)
                n = float((y_train[idx] != 0).sum())
                total, count = total + loss * n, count + n
            val_total = val_hits = val_count = 0.0
            for b in range(0, len(x_val), 256):
                n = float((y_val[b: b + 256] != 0).sum())
                loss, acc = _batch_loss(params, cell, x_val[b: b + 256], y_val[b: b + 256],
                                        vocab_size, False)
                val_total, val_hits, val_count = (val_total + loss * n, val_hits + acc * n,
                                                  val_count + n)
            val_loss = val_total / val_count if val_count else float("nan")
            row = dict(epoch=epoch, loss=round(total / max(count, 1.0), 5),
                       val_loss=round(val_loss, 5), accuracy="",
                       val_accuracy=round(val_hits / max(val_count, 1.0), 5),
                       seconds=round(time.perf_counter() - t0, 2))
            improved = record_epoch(state, row)
            if improved:
                save_export(run_dir / "export.npz", export_cfg, vocab_size,
                            export_numpy_params(cell, params))
            arrays = {f"p/{k}": v for k, v in params.items()}
            arrays.update({f"m/{k}": v for k, v in adam.m.items()})
            arrays.update({f"v/{k}": v for k, v in adam.v.items()})
            arrays["state"] = np.array(json.dumps({**state, "adam_t": adam.t}))
            with atomic_path(ckpt) as tmp, open(tmp, "wb") as f:
                np.savez(f, **arrays)
            write_history(run_dir / "history.csv", state["history"])
            log(epoch_line(row, epochs, improved, " (numpy)"))
            reason = stop_reason(state, patience, time.perf_counter() - start, max_minutes)
            if reason:
                stopped = reason
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
        log(f"interrupted: checkpoint of epoch {state['epoch']} kept; continue with --resume")
    return TrainResult(state["epoch"], state["best_epoch"], state["best_val_loss"] or float("nan"),
                       stopped, state["history"])
