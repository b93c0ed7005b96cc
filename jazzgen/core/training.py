"""One-device training with Keras: compiled chunks of batches, Adam with global-norm clipping.

Why a custom step and not `model.fit`: the course's unrolled model spends most of its time in
Python and graph tracing. Here one graph, traced once per run, runs a whole chunk of batches as
a `tf.while_loop`, so Python is touched a few times per epoch, not once per batch; the LSTM's
own time loop is one fused op (`fused_lstm`), and Adam is written out (`adam_step`).

`KerasBackend` is this step behind the one epoch loop (`core/loop.py`), which owns checkpoints,
history, TensorBoard, early stopping, interrupt and resume; `fit` puts the two together.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jazzgen.core.files import atomic_path
from jazzgen.core.loop import StepBackend, TrainResult, run_epochs, show_progress
from jazzgen.core.models import ModelConfig

CHUNKS_PER_EPOCH = 20  # progress-bar updates per epoch (each a call into the compiled loop)
MIN_BATCHES_PER_CHUNK = 4  # an epoch this short is one call: each call costs ~0.3 ms + a sync


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
    # The tf.Variables under Keras' wrappers, and each constant made once: Keras' operator
    # dispatch and one Const per Python number per variable were half of this function's
    # tracing time and ~60 of the step graph's ~450 ops (each op costs tracing, Grappler and
    # executor time).
    slots = [(optimizer._momentums[i].value, optimizer._velocities[i].value)
             for i in map(optimizer._get_variable_index, variables)]
    variables = [var.value for var in variables]
    clip = optimizer.global_clipnorm
    if clip:
        norm = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads]))
        scale = clip * tf.minimum(1.0 / norm, 1.0 / clip) + (norm - norm)  # NaN if norm is not finite
        grads = [g * scale for g in grads]
    lr = tf.cast(optimizer.learning_rate, tf.float32)
    step = tf.cast(optimizer.iterations + 1, tf.float32)
    beta_1, beta_2 = optimizer.beta_1, optimizer.beta_2
    alpha = lr * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
    rate_1, rate_2 = tf.constant(1 - beta_1, tf.float32), tf.constant(1 - beta_2, tf.float32)
    epsilon = tf.constant(optimizer.epsilon, tf.float32)
    for g, var, (m, v) in zip(grads, variables, slots, strict=True):
        m.assign_add((g - m) * rate_1)  # m <- beta_1 m + (1 - beta_1) g
        v.assign_add((tf.square(g) - v) * rate_2)
        var.assign_sub((m * alpha) / (tf.sqrt(v) + epsilon))
    optimizer.iterations.assign_add(1)


def masked_sums(logits, y):
    """Summed cross-entropy, counted targets and correct predictions; target id 0 (padding) is skipped.

    logits: (B, T, V) or (B, V); y: (B, T) or (B,) int32 ids. Sums, not means, so that chunks,
    batches and replicas add up to the epoch's figures.
    """
    import tensorflow as tf

    if logits.shape[-1] is not None and logits.shape[-1] >= SOFTMAX_LOSS_MIN_CLASSES:
        ce, hits = softmax_loss(logits, y)                                  # (B, T) each
    else:  # on rows: given (B, T, V), TensorFlow's op adds ~30 ops of reshapes and shape checks
        n_classes = logits.shape[-1] if logits.shape[-1] is not None else tf.shape(logits)[-1]
        logits, y = tf.reshape(logits, (-1, n_classes)), tf.reshape(y, (-1,))  # (B T, V), (B T,)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        hits = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y)
    mask = tf.cast(tf.not_equal(y, 0), tf.float32)
    hits = tf.cast(hits, tf.float32)
    return tf.reduce_sum(ce * mask), tf.reduce_sum(mask), tf.reduce_sum(hits * mask)


SOFTMAX_LOSS_MIN_CLASSES = 512  # from here on `softmax_loss` (below, one op per pass over logits)


def softmax_loss(logits, y):
    """Sparse softmax cross-entropy and hits (argmax == y), with a gradient from ONE softmax op.

    The same values as `tf.nn.sparse_softmax_cross_entropy_with_logits` (to float rounding) and
    its gradient `softmax - one_hot(y)`, in fewer passes over the (B T, V) logits: TensorFlow's
    fused cross-entropy kernel took ~100 ms per batch at the default size (V 2,879, 4,096 rows),
    ~25% of a training step; this takes ~45 ms with the argmax for the hits included
    (benchmarks/train_throughput.py). The loss is log-sum-exp minus the target's logit, where
    log-sum-exp = max - log(softmax at the argmax): softmax there is 1 / sum(exp(logits - max)),
    at least 1 / V, so this never underflows.

    logits: (..., V) floats; y: (...) int32 ids in [0, V). Returns ce (...) float32, hits (...) bool.
    """
    import tensorflow as tf

    shape, n_classes = tf.shape(y), tf.shape(logits)[-1]

    @tf.custom_gradient
    def run(logits):
        rows = tf.reshape(logits, (-1, n_classes))                           # (N, V)
        labels = tf.reshape(y, (-1, 1))                                      # (N, 1)
        p = tf.nn.softmax(rows)                                              # (N, V)
        best = tf.argmax(rows, -1, output_type=tf.int32)[:, None]            # (N, 1)
        lse = (tf.gather(rows, best, batch_dims=1)
               - tf.math.log(tf.gather(p, best, batch_dims=1)))             # (N, 1)
        ce = tf.reshape(lse - tf.gather(rows, labels, batch_dims=1), shape)

        def grad(d_ce, d_hits=None):  # d loss / d logits = (softmax - one_hot(y)) d_ce
            d_rows = (p - tf.one_hot(labels[:, 0], n_classes)) * tf.reshape(d_ce, (-1, 1))
            return tf.reshape(d_rows, tf.shape(logits))

        return (ce, tf.reshape(tf.equal(best, labels), shape)), grad

    return run(logits)


def build_step_functions(model, optimizer, batch_size: int, sums=None):
    """Compiled chunk functions for training and evaluation (masked next-value loss).

    Targets with id 0 (padding) are masked out of the loss and accuracy. `sums(logits, y)`
    replaces `masked_sums` (the same three sums) for a model with a loss of its own, such as a
    tagger's sentence-level CRF likelihood.
    Returns (train_chunk, eval_chunk); each maps (X, Y, first_batch, last_batch) to
    summed loss, counted targets and correct predictions over those batches.

    Each is ONE concrete graph, traced once for any number of windows: the batch loop is an
    explicit `tf.while_loop` and autograph is off (converting the Python source costs ~0.4 s,
    a third of a short run's first epoch), and calling the concrete function skips the
    per-call signature matching of a `tf.function`.
    """
    import tensorflow as tf

    variables = model.trainable_variables
    sums = sums or masked_sums

    def train_batch(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)  # (B, T, V)
            loss_sum, n, hits = sums(logits, y)
            loss = loss_sum / tf.maximum(n, 1.0)
        adam_step(optimizer, tape.gradient(loss, variables), variables)
        return loss_sum, n, hits

    def eval_batch(x, y):
        return sums(model(x, training=False), y)

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


def _run_chunks(chunk_fn, X, Y, batch_size: int, progress: bool, label: str,
                deadline: float = math.inf, log: Callable[[str], None] | None = None,
                order: np.ndarray | None = None):
    """Mean loss and accuracy over the batches of X, Y (taken in `order`, default as they are),
    run in chunks.

    Each chunk's windows are copied into the graph on their own, so a large X (the rows of a
    conditioned 12-key corpus are gigabytes) is never held twice, shuffled or as a tensor.
    Past `deadline` (a `time.perf_counter()` value) the pass ends after the current chunk, so a
    time limit also stops an epoch that alone would outlast it; `log` says where it stopped.
    """
    import tensorflow as tf

    n_batches = math.ceil(len(X) / batch_size)
    if n_batches == 0:
        return float("nan"), float("nan")
    bounds = np.linspace(0, n_batches, chunks_for(n_batches) + 1).astype(int)
    total = count = correct = 0.0
    for first, last in zip(bounds[:-1], bounds[1:]):
        rows = slice(first * batch_size, last * batch_size)
        pick = rows if order is None else order[rows]
        t, n, c = chunk_fn(tf.constant(X[pick]), tf.constant(Y[pick]), tf.constant(0),
                           tf.constant(int(last - first)))
        total, count, correct = total + float(t), count + float(n), correct + float(c)
        if progress:
            show_progress(label, int(last), n_batches)
        if time.perf_counter() > deadline and last < n_batches:
            if progress:
                show_progress(label, n_batches, n_batches)  # clears the bar
            if log:
                log(f"time limit: epoch cut short after {int(last)} of {n_batches} batches")
            break
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


def _seed_states(model) -> list:
    """The random-number states of the model's dropout layers (not among `get_weights()`)."""
    return [v for v in model.variables if "seed_generator_state" in v.path]


def save_checkpoint(path: Path, model, optimizer, state: dict) -> None:
    """Weights, optimizer variables, dropout seed states and loop state in one atomically written .npz.

    With the seed states a resumed run with dropout draws the same masks as an uninterrupted one.
    """
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)})
    arrays.update({f"s{i}": np.asarray(v.numpy()) for i, v in enumerate(_seed_states(model))})
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
        for i, var in enumerate(_seed_states(model)):
            if f"s{i}" in data.files:  # checkpoints written before seed states were kept lack them
                var.assign(data[f"s{i}"])
        return json.loads(str(data["state"]))


class KerasBackend(StepBackend):
    """One device: the Keras models, Adam, and the compiled chunk functions over numpy windows."""

    def __init__(self, models, optimizer, train_xy, val_xy, batch_size: int, seed: int,
                 on_best: Callable[[object], None] | None = None,
                 select: Callable[[object], float] | None = None, sums=None):
        self.models, self.model, self.optimizer = models, models.train, optimizer
        self.train_chunk, self.eval_chunk = build_step_functions(self.model, optimizer, batch_size,
                                                                 sums)
        self.train_xy, self.val_xy = train_xy, val_xy
        self.batch_size, self.seed, self.on_best, self.select = batch_size, seed, on_best, select
        self.show_progress = sys.stderr.isatty()
        self.base_rate = float(np.asarray(optimizer.learning_rate))
        self.best_weights = None  # held for `go_back` (reduce on plateau)

    def restore(self, path: Path) -> dict:
        return load_checkpoint(path, self.model, self.optimizer)

    def save(self, path: Path, state: dict) -> None:
        save_checkpoint(path, self.model, self.optimizer, state)

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        x, y = self.train_xy
        order = np.random.default_rng([self.seed, epoch]).permutation(len(x))  # resumable
        return _run_chunks(self.train_chunk, x, y, self.batch_size, self.show_progress, "train",
                           self.deadline, self.log, order=order)

    def evaluate(self, epoch: int) -> tuple[float, float]:
        return _run_chunks(self.eval_chunk, *self.val_xy, self.batch_size, False, "val")

    def export_best(self) -> None:
        self.best_weights = self.model.get_weights()
        if self.on_best:
            self.on_best(self.models)

    def go_back(self, rate_scale: float) -> None:
        if self.best_weights is not None:  # after a resume only the rate is set (weights as saved)
            self.model.set_weights(self.best_weights)
        self.optimizer.learning_rate = self.base_rate * rate_scale

    def score(self) -> float | None:
        return self.select(self.models) if self.select else None


def fit(
    model_config: ModelConfig,
    vocab_size: int,
    train_xy,
    val_xy,
    run_dir: Path,
    *,
    batch_size: int,
    learning_rate: float,
    clip_norm: float,
    seed: int,
    on_best: Callable[[object], None] | None = None,
    log: Callable[[str], None] = print,
    num_outputs: int | None = None,
    build: Callable[[], object] | None = None,
    threads: int | None = None,
    select: Callable[[object], float] | None = None,
    strategy: str | None = None,
    sums: Callable[[object], object] | None = None,
    **loop,
) -> TrainResult:
    """Train the next-value model (or the head `build` makes) on windows.

    Args:
        train_xy, val_xy: (x, y) int32 windows # (N, T) each (y (N,) for a "classify" head);
            with `strategy`, `WindowSource`s (`core.distributed`).
        on_best: called with the Models whenever validation loss improves (export hook).
        num_outputs: classes of a "classify"/"tag" head (target id 0 is padding, masked).
        build: returns the models instead of `build_models` (e.g. an encoder-decoder); its
            `.train` maps the x windows to logits for y, like any head.
        threads: TensorFlow intra-op threads (0 = its default; None = `auto_threads`).
        select: a validation score of the Models (higher is better, e.g. entity F1) that picks
            the best epoch and stops early instead of the validation loss; the state's
            `best_val_loss` then holds minus the best score.
        strategy: None for one device; else a tf.distribute strategy (`core.distributed`), where
            batch_size is per replica and only next-value models train.
        sums: `sums(models)` gives the batch loss sums instead of `masked_sums` (see
            `build_step_functions`).
        loop: epochs, patience, max_minutes, checkpoint_every_s, resume (`core.loop.run_epochs`).
    Returns:
        TrainResult; run_dir holds checkpoint.npz, history.csv and tensorboard/.
    """
    if strategy is not None:
        from jazzgen.core.distributed import distributed_backend

        if num_outputs is not None or build is not None or select is not None or sums:
            raise ValueError("a tf.distribute strategy trains next-value models only")
        settings = dict(batch_size=batch_size, learning_rate=learning_rate, clip_norm=clip_norm,
                        seed=seed, on_best=on_best, threads=threads)
        backend = distributed_backend(strategy, model_config, vocab_size, train_xy, val_xy, settings, log)
        return run_epochs(backend, run_dir, log=log, **loop)

    import keras
    import tensorflow as tf

    from jazzgen.core.models import build_models

    if threads is None:
        threads = auto_threads(model_config, vocab_size, batch_size)
    set_threads(threads, log)
    tf.config.experimental.enable_op_determinism()  # identical history for the same seed on CPU
    keras.utils.set_random_seed(seed)
    models = build() if build else build_models(model_config, vocab_size, num_outputs)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=clip_norm)
    optimizer.build(models.train.trainable_variables)
    backend = KerasBackend(models, optimizer, train_xy, val_xy, batch_size, seed, on_best, select,
                           sums(models) if sums else None)
    return run_epochs(backend, run_dir, log=log, **loop)
