"""The training loop: Adam with global-norm clipping, validation by piece, checkpoints, resume.

Why a custom loop and not `model.fit`: the course's unrolled model spends most of its time in
Python and graph tracing. Here one `tf.function` runs a whole chunk of batches as a graph loop
(`tf.range`), so Python is touched a few times per epoch, not once per batch.

Checkpoints: after every epoch `checkpoint.npz` holds weights, optimizer variables and the loop
state (epoch, best loss, early-stopping counter, history) in ONE atomically written file, so a
run killed at any moment (Ctrl-C, SIGKILL, a sleeping laptop) resumes from its last epoch. The
best weights are exported to `export.npz` as soon as they improve, so `generate` works while a
run is still training.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jazzgen.core.files import atomic_open, atomic_path
from jazzgen.core.models import ModelConfig

CHUNKS_PER_EPOCH = 20  # progress-bar updates per epoch (each a call into the compiled loop)
HISTORY_FIELDS = ("epoch", "loss", "val_loss", "accuracy", "val_accuracy", "seconds")


@dataclass
class TrainResult:
    epochs_done: int
    best_epoch: int
    best_val_loss: float
    stopped_because: str  # "epochs" | "early stopping" | "time limit" | "interrupted"
    history: list[dict]


def _progress(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


def write_history(path: Path, history: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in HISTORY_FIELDS})
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(buf.getvalue())


def build_step_functions(model, optimizer, batch_size: int):
    """Compiled chunk functions for training and evaluation (masked next-value loss).

    Targets with id 0 (padding) are masked out of the loss and accuracy.
    Returns (train_chunk, eval_chunk); each maps (X, Y, first_batch, last_batch) to
    summed loss, counted targets and correct predictions over those batches.
    """
    import tensorflow as tf

    def masked_sums(logits, y):
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)  # (B, T)
        mask = tf.cast(tf.not_equal(y, 0), tf.float32)
        hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y), tf.float32)
        return tf.reduce_sum(ce * mask), tf.reduce_sum(mask), tf.reduce_sum(hits * mask)

    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def train_chunk(X, Y, first, last):
        total, count, correct = tf.constant(0.0), tf.constant(0.0), tf.constant(0.0)
        for b in tf.range(first, last):
            x = X[b * batch_size : (b + 1) * batch_size]  # (B, T)
            y = Y[b * batch_size : (b + 1) * batch_size]
            with tf.GradientTape() as tape:
                logits = model(x, training=True)  # (B, T, V)
                loss_sum, n, hits = masked_sums(logits, y)
                loss = loss_sum / tf.maximum(n, 1.0)
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
            total, count, correct = total + loss_sum, count + n, correct + hits
        return total, count, correct

    @tf.function(reduce_retracing=True)
    def eval_chunk(X, Y, first, last):
        total, count, correct = tf.constant(0.0), tf.constant(0.0), tf.constant(0.0)
        for b in tf.range(first, last):
            x = X[b * batch_size : (b + 1) * batch_size]
            y = Y[b * batch_size : (b + 1) * batch_size]
            loss_sum, n, hits = masked_sums(model(x, training=False), y)
            total, count, correct = total + loss_sum, count + n, correct + hits
        return total, count, correct

    return train_chunk, eval_chunk


def _run_chunks(chunk_fn, X, Y, batch_size: int, show_progress: bool, label: str):
    import tensorflow as tf

    n_batches = math.ceil(len(X) / batch_size)
    if n_batches == 0:
        return float("nan"), float("nan")
    Xt, Yt = tf.constant(X), tf.constant(Y)
    bounds = np.linspace(0, n_batches, min(CHUNKS_PER_EPOCH, n_batches) + 1).astype(int)
    total = count = correct = 0.0
    for first, last in zip(bounds[:-1], bounds[1:]):
        t, n, c = chunk_fn(Xt, Yt, tf.constant(int(first)), tf.constant(int(last)))
        total, count, correct = total + float(t), count + float(n), correct + float(c)
        if show_progress:  # a bar on an interactive terminal only; logs get one line per epoch
            print(f"\r  {label} {_progress(int(last), n_batches)}", end="", file=sys.stderr, flush=True)
    if show_progress:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr, flush=True)
    return total / max(count, 1.0), correct / max(count, 1.0)


def new_loop_state() -> dict:
    """The loop state a checkpoint carries: epochs done, best loss, early-stopping count, history."""
    return {"epoch": 0, "best_val_loss": None, "best_epoch": 0, "bad_epochs": 0, "history": []}


def record_epoch(state: dict, row: dict) -> bool:
    """Add one epoch's history row to the loop state; returns whether it is the best so far.

    The validation loss is watched (the training loss when there is no validation split).
    """
    watched = row["val_loss"] if not math.isnan(row["val_loss"]) else row["loss"]
    best = state["best_val_loss"]
    improved = best is None or watched < best - 1e-4
    state["history"].append(row)
    state["epoch"] = row["epoch"]
    if improved:
        state.update(best_val_loss=watched, best_epoch=row["epoch"], bad_epochs=0)
    else:
        state["bad_epochs"] += 1
    return improved


def stop_reason(state: dict, patience: int, elapsed_s: float, max_minutes: float) -> str | None:
    """"early stopping" or "time limit" when the loop should end after this epoch, else None."""
    if state["bad_epochs"] >= patience > 0:
        return "early stopping"
    if max_minutes and elapsed_s > max_minutes * 60:
        return "time limit"
    return None


def epoch_line(row: dict, epochs: int, improved: bool, suffix: str = "") -> str:
    """The one line printed per epoch."""
    acc = f"  acc {row['accuracy']:.3f}" if isinstance(row.get("accuracy"), float) else ""
    return (f"epoch {row['epoch']}/{epochs}  loss {row['loss']:.4f}  val_loss {row['val_loss']:.4f}{acc}  "
            f"val_acc {row['val_accuracy']:.3f}  {row['seconds']:.1f}s{suffix}" + ("  *best" if improved else ""))


def log_scalars(writer, row: dict) -> None:
    """One epoch's figures as TensorBoard scalars (loss, val_loss, accuracy, val_accuracy)."""
    import tensorflow as tf

    with writer.as_default(step=row["epoch"]):
        for name in ("loss", "val_loss", "accuracy", "val_accuracy"):
            value = row.get(name)
            if isinstance(value, float) and not math.isnan(value):
                tf.summary.scalar(name, value)
    writer.flush()


def save_checkpoint(path: Path, model, optimizer, state: dict) -> None:
    """Weights, optimizer variables and loop state in one atomically written .npz."""
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)})
    arrays["state"] = np.array(json.dumps(state))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def load_checkpoint(path: Path, model, optimizer) -> dict:
    """Restore what `save_checkpoint` wrote; returns the loop state."""
    with np.load(path) as data:
        n_w = sum(1 for k in data.files if k.startswith("w"))
        model.set_weights([data[f"w{i}"] for i in range(n_w)])
        for i, var in enumerate(optimizer.variables):
            var.assign(data[f"o{i}"])
        return json.loads(str(data["state"]))


def fit(
    model_config: ModelConfig,
    vocab_size: int,
    train_xy: tuple[np.ndarray, np.ndarray],
    val_xy: tuple[np.ndarray, np.ndarray],
    run_dir: Path,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    clip_norm: float,
    patience: int,
    seed: int,
    max_minutes: float = 0.0,
    checkpoint_every_s: float = 0.0,
    resume: bool = False,
    on_best: Callable[[object], None] | None = None,
    log: Callable[[str], None] = print,
    num_outputs: int | None = None,
    build: Callable[[], object] | None = None,
) -> TrainResult:
    """Train the next-value model on windows; writes checkpoint.npz and history.csv in run_dir.

    Args:
        train_xy, val_xy: (x, y) int32 windows # (N, T) each.
        on_best: called with the Models whenever validation loss improves (export hook).
        resume: continue from run_dir/checkpoint.npz (weights, optimizer, epoch, history).
        checkpoint_every_s: write checkpoint.npz and history.csv at most this often (0 = every
            epoch), and always after the last epoch. Epochs of milliseconds otherwise spend as
            long writing as training; an interruption resumes from the last write.
        num_outputs: classes of a "classify"/"tag" head (target id 0 is padding, masked).
        build: returns the models instead of `build_models` (e.g. an encoder-decoder); its
            `.train` maps the x windows to logits for y, like any head.
    """
    import keras
    import tensorflow as tf

    from jazzgen.core.models import build_models

    tf.config.experimental.enable_op_determinism()  # identical history for the same seed on CPU
    keras.utils.set_random_seed(seed)
    models = build() if build else build_models(model_config, vocab_size, num_outputs)
    model = models.train
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=clip_norm)
    optimizer.build(model.trainable_variables)
    train_chunk, eval_chunk = build_step_functions(model, optimizer, batch_size)

    ckpt_path = run_dir / "checkpoint.npz"
    state = new_loop_state()
    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path, model, optimizer)
        log(f"resuming from epoch {state['epoch']} (best val loss {state['best_val_loss']})")
    elif resume:
        log("nothing to resume (no checkpoint.npz yet); starting from epoch 1")

    x_train, y_train = train_xy
    x_val, y_val = val_xy
    tensorboard = tf.summary.create_file_writer(str(run_dir / "tensorboard"))  # `tensorboard --logdir RUN`
    start = time.perf_counter()
    last_write = -math.inf
    saved_epoch = state["epoch"]
    stopped = "epochs"
    try:
        while state["epoch"] < epochs:
            epoch = state["epoch"] + 1
            t0 = time.perf_counter()
            order = np.random.default_rng([seed, epoch]).permutation(len(x_train))  # resumable
            show = sys.stderr.isatty()
            loss, acc = _run_chunks(train_chunk, x_train[order], y_train[order], batch_size, show, "train")
            val_loss, val_acc = _run_chunks(eval_chunk, x_val, y_val, batch_size, False, "val")
            seconds = time.perf_counter() - t0
            row = dict(epoch=epoch, loss=round(loss, 5), val_loss=round(val_loss, 5),
                       accuracy=round(acc, 5), val_accuracy=round(val_acc, 5), seconds=round(seconds, 2))
            improved = record_epoch(state, row)
            log_scalars(tensorboard, row)
            if improved and on_best:
                on_best(models)
            reason = stop_reason(state, patience, time.perf_counter() - start, max_minutes)
            if reason or epoch == epochs or time.perf_counter() - last_write >= checkpoint_every_s:
                save_checkpoint(ckpt_path, model, optimizer, state)
                write_history(run_dir / "history.csv", state["history"])
                last_write, saved_epoch = time.perf_counter(), epoch
            log(epoch_line(row, epochs, improved))
            if reason:
                stopped = reason
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
        log(f"interrupted: checkpoint of epoch {saved_epoch} kept; continue with --resume")
        state["epoch"] = saved_epoch
    else:
        if state["history"]:  # also after a resume with nothing left to do: history matches the checkpoint
            write_history(run_dir / "history.csv", state["history"])
    return TrainResult(state["epoch"], state["best_epoch"], state["best_val_loss"] or float("nan"),
                       stopped, state["history"])
