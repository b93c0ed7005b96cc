"""The training loop: Adam with global-norm clipping, validation by piece, checkpoints, resume.

Why a custom loop and not `model.fit`: the course's unrolled model spends most of its time in
Python and graph tracing. Here one graph, traced once per run, runs a whole chunk of batches as
a `tf.while_loop`, so Python is touched a few times per epoch, not once per batch; the LSTM's
own time loop is one fused op (`fused_lstm`), and Adam is written out (`adam_step`).

Checkpoints: at most every `checkpoint_every_s` (and after the last epoch) `checkpoint.npz`
holds weights, optimizer variables and the loop state (epoch, best loss, early-stopping
counter, history) in ONE atomically written file, so a run killed at any moment (Ctrl-C,
SIGKILL, a sleeping laptop) resumes from its last checkpoint. The best weights are exported to
`export.npz` as soon as they improve, so `generate` works while a
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

from jazzgen.core.files import atomic_open, atomic_path, read_npz
from jazzgen.core.models import ModelConfig
from jazzgen.errors import InputError

CHUNKS_PER_EPOCH = 20  # progress-bar updates per epoch (each a call into the compiled loop)
MIN_BATCHES_PER_CHUNK = 4  # an epoch this short is one call: each call costs ~0.3 ms + a sync
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


def adam_step(optimizer, grads, variables) -> None:
    """One Adam update with global-norm clipping, on a built `keras.optimizers.Adam`'s own state.

    The same arithmetic as `optimizer.apply_gradients` (Keras' `clip_by_global_norm` and
    `Adam.update_step`, checked against it in tests/test_training.py) and the same variables,
    so checkpoints are unchanged, without Keras' per-variable bookkeeping: at the course's size
    that bookkeeping cost ~60 ms of tracing and ~0.1 ms per batch. A non-finite gradient norm
    makes the update NaN, as in Keras.

    A trainable embedding's gradient is `IndexedSlices`, for which Keras' Adam has its own
    semantics (elementwise ops on the slices, so a value seen twice in a batch adds two squares
    to `v`, not the square of the sum): such updates go through `apply_gradients` unchanged.
    """
    import tensorflow as tf

    if any(isinstance(g, tf.IndexedSlices) for g in grads):  # decided once, when tracing
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return
    pairs = [(g, var) for g, var in zip(grads, variables, strict=True) if g is not None]  # as Keras
    grads = [g for g, _ in pairs]
    variables = [var for _, var in pairs]
    clip = optimizer.global_clipnorm
    if clip:
        norm = tf.sqrt(tf.reduce_sum(tf.stack([tf.reduce_sum(tf.square(g)) for g in grads])))
        scale = clip * tf.minimum(1.0 / norm, 1.0 / clip) + (norm - norm)  # NaN if norm is not finite
        grads = [g * scale for g in grads]
    lr = tf.cast(optimizer.learning_rate, tf.float32)
    step = tf.cast(optimizer.iterations + 1, tf.float32)
    beta_1, beta_2 = optimizer.beta_1, optimizer.beta_2
    alpha = lr * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
    for g, var in zip(grads, variables, strict=True):
        i = optimizer._get_variable_index(var)
        m, v = optimizer._momentums[i], optimizer._velocities[i]
        m.assign_add((g - m) * (1 - beta_1))  # m <- beta_1 m + (1 - beta_1) g
        v.assign_add((tf.square(g) - v) * (1 - beta_2))
        var.assign_sub((m * alpha) / (tf.sqrt(v) + optimizer.epsilon))
    optimizer.iterations.assign_add(1)


def masked_sums(logits, y):
    """Summed cross-entropy, counted targets and correct predictions; target id 0 (padding) is skipped.

    logits: (B, T, V) or (B, V); y: (B, T) or (B,) int32 ids. Sums, not means, so that chunks,
    batches and replicas add up to the epoch's figures.
    """
    import tensorflow as tf

    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)  # (B, T)
    mask = tf.cast(tf.not_equal(y, 0), tf.float32)
    hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y), tf.float32)
    return tf.reduce_sum(ce * mask), tf.reduce_sum(mask), tf.reduce_sum(hits * mask)


def build_step_functions(model, optimizer, batch_size: int):
    """Compiled chunk functions for training and evaluation (masked next-value loss).

    Targets with id 0 (padding) are masked out of the loss and accuracy.
    Returns (train_chunk, eval_chunk); each maps (X, Y, first_batch, last_batch) to
    summed loss, counted targets and correct predictions over those batches.

    Each is ONE concrete graph, traced once for any number of windows: the batch loop is an
    explicit `tf.while_loop` and autograph is off (converting the Python source costs ~0.4 s,
    a third of a short run's first epoch), and calling the concrete function skips the
    per-call signature matching of a `tf.function`.
    """
    import tensorflow as tf

    variables = model.trainable_variables

    def train_batch(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)  # (B, T, V)
            loss_sum, n, hits = masked_sums(logits, y)
            loss = loss_sum / tf.maximum(n, 1.0)
        adam_step(optimizer, tape.gradient(loss, variables), variables)
        return loss_sum, n, hits

    def eval_batch(x, y):
        return masked_sums(model(x, training=False), y)

    def chunk(batch_fn):
        def run(X, Y, first, last):  # X: (N, T) ids, Y: (N, T) or (N,); batches [first, last)
            def body(b, total, count, correct):
                x = X[b * batch_size: (b + 1) * batch_size]  # (B, T)
                y = Y[b * batch_size: (b + 1) * batch_size]  # (B, T) or (B,)
                loss_sum, n, hits = batch_fn(x, y)
                return b + 1, total + loss_sum, count + n, correct + hits

            zero = tf.constant(0.0)
            _, total, count, correct = tf.while_loop(lambda b, *_: b < last, body, (first, zero, zero, zero))
            return total, count, correct

        traced = []

        def call(X, Y, first, last):  # traced on first use: no validation split, no eval graph
            if not traced:  # any number of windows; Y is (N, T) or (N,) for a "classify" head
                def spec(a):
                    return tf.TensorSpec([None] * len(a.shape), a.dtype)

                traced.append(tf.function(run, autograph=False).get_concrete_function(
                    spec(X), spec(Y), spec(first), spec(last)))
            return traced[0](X, Y, first, last)

        return call

    return chunk(train_batch), chunk(eval_batch)


def chunks_for(n_batches: int) -> int:
    """Calls into the compiled loop per epoch of `n_batches`.

    Chunks keep Ctrl-C and the progress bar responsive on long epochs (signals are handled
    between graph calls); an epoch of a few batches runs as one call.
    """
    return min(CHUNKS_PER_EPOCH, math.ceil(n_batches / MIN_BATCHES_PER_CHUNK))


def _run_chunks(chunk_fn, X, Y, batch_size: int, show_progress: bool, label: str,
                deadline: float = math.inf, log: Callable[[str], None] | None = None):
    """Mean loss and accuracy over the batches of X, Y, run in chunks.

    Past `deadline` (a `time.perf_counter()` value) the pass ends after the current chunk, so a
    time limit also stops an epoch that alone would outlast it; `log` says where it stopped.
    """
    import tensorflow as tf

    n_batches = math.ceil(len(X) / batch_size)
    if n_batches == 0:
        return float("nan"), float("nan")
    Xt, Yt = tf.constant(X), tf.constant(Y)
    bounds = np.linspace(0, n_batches, chunks_for(n_batches) + 1).astype(int)
    total = count = correct = 0.0
    for first, last in zip(bounds[:-1], bounds[1:]):
        t, n, c = chunk_fn(Xt, Yt, tf.constant(int(first)), tf.constant(int(last)))
        total, count, correct = total + float(t), count + float(n), correct + float(c)
        if show_progress:  # a bar on an interactive terminal only; logs get one line per epoch
            print(f"\r  {label} {_progress(int(last), n_batches)}", end="", file=sys.stderr, flush=True)
        if time.perf_counter() > deadline and last < n_batches:
            if log:
                log(f"time limit: epoch cut short after {int(last)} of {n_batches} batches")
            break
    if show_progress:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr, flush=True)
    return total / max(count, 1.0), correct / max(count, 1.0)


SMALL_STEP_MACS = 4_000_000  # below this one time step's gate matmul is faster on one thread


def auto_threads(cfg: ModelConfig, vocab_size: int, batch_size: int) -> int:
    """Intra-op threads for training `cfg`: 1 when one step's gate matmul is small, else 0 (default).

    At the course's size (B 32, [x; h] 154 wide, 4 x 64 gates: 1.3M multiply-adds) splitting
    each op across two cores costs more in hand-offs than it saves (benchmarks: 100 epochs
    ~20% faster on one thread); at the default size (21M) the two are within noise, and on
    a many-core laptop the big head wants every core.
    """
    n_in = cfg.embedding_dim or vocab_size
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cfg.cell]
    macs = batch_size * (n_in + cfg.units) * gates * cfg.units
    return 1 if macs < SMALL_STEP_MACS else 0


def set_threads(n: int, log: Callable[[str], None]) -> None:
    """Ask TensorFlow for `n` intra-op threads (0 = its default); it can only before it starts."""
    import tensorflow as tf

    if n == tf.config.threading.get_intra_op_parallelism_threads():
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
    except RuntimeError:  # TensorFlow already ran something in this process (tests, notebooks)
        log(f"note: TensorFlow has started; keeping its intra-op threads (wanted {n or 'default'})")


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


class ScalarLog:
    """Per-epoch figures as TensorBoard scalars (`tensorboard --logdir RUN`).

    Written with TensorBoard's own event writer and protos, not `tf.summary`: each eager
    `tf.summary.scalar` is a TensorFlow op call (~1 ms), as long as a whole batch at the
    course's size. The writer queues events on its own thread; `flush` is called with every
    checkpoint.
    """

    NAMES = ("loss", "val_loss", "accuracy", "val_accuracy")

    def __init__(self, log_dir: Path):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._writer = EventFileWriter(str(log_dir))

    def add(self, row: dict) -> None:
        """One epoch's loss, val_loss, accuracy and val_accuracy at step `row["epoch"]`."""
        from tensorboard.compat.proto import event_pb2, summary_pb2

        values = [summary_pb2.Summary.Value(tag=name, simple_value=row[name]) for name in self.NAMES
                  if isinstance(row.get(name), float) and not math.isnan(row[name])]
        self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=row["epoch"],
                                               summary=summary_pb2.Summary(value=values)))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def save_checkpoint(path: Path, model, optimizer, state: dict) -> None:
    """Weights, optimizer variables and loop state in one atomically written .npz."""
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)})
    arrays["state"] = np.array(json.dumps(state))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def load_checkpoint(path: Path, model, optimizer) -> dict:
    """Restore what `save_checkpoint` wrote; returns the loop state.

    Raises:
        InputError: the checkpoint is damaged or does not fit the model (named, with what to do).
    """
    data = read_npz(path)
    try:
        n_w = sum(1 for k in data if k.startswith("w"))
        model.set_weights([data[f"w{i}"] for i in range(n_w)])
        for i, var in enumerate(optimizer.variables):
            var.assign(data[f"o{i}"])
        return json.loads(str(data["state"]))
    except (KeyError, ValueError, TypeError) as e:  # json errors are ValueErrors
        raise InputError(path, "damaged checkpoint",
                         f"{type(e).__name__}: {e}"[:160] + "; train into a new -o to start over") from e


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
    threads: int | None = None,
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
        threads: TensorFlow intra-op threads (0 = its default; None = `auto_threads`).
    """
    import keras
    import tensorflow as tf

    from jazzgen.core.models import build_models

    if threads is None:
        threads = auto_threads(model_config, vocab_size, batch_size)
    set_threads(threads, log)
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
    scalars = ScalarLog(run_dir / "tensorboard")
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
            deadline = start + max_minutes * 60 if max_minutes else math.inf
            loss, acc = _run_chunks(train_chunk, x_train[order], y_train[order], batch_size, show, "train",
                                    deadline, log)
            val_loss, val_acc = _run_chunks(eval_chunk, x_val, y_val, batch_size, False, "val")
            seconds = time.perf_counter() - t0
            row = dict(epoch=epoch, loss=round(loss, 5), val_loss=round(val_loss, 5),
                       accuracy=round(acc, 5), val_accuracy=round(val_acc, 5), seconds=round(seconds, 2))
            improved = record_epoch(state, row)
            scalars.add(row)
            if improved and on_best:
                on_best(models)
            reason = stop_reason(state, patience, time.perf_counter() - start, max_minutes)
            if reason or epoch == epochs or time.perf_counter() - last_write >= checkpoint_every_s:
                save_checkpoint(ckpt_path, model, optimizer, state)
                write_history(run_dir / "history.csv", state["history"])
                scalars.flush()
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
    finally:
        scalars.close()
    return TrainResult(state["epoch"], state["best_epoch"], state["best_val_loss"] or float("nan"),
                       stopped, state["history"])
