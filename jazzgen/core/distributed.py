"""Training under tf.distribute: a model copy per replica, each global batch split among them.

    train.strategy = "default"      one device, no copies (tf.distribute's default strategy)
                     "mirrored"     every GPU of this machine, one process (no GPU: the logical
                                    CPU devices made by `cluster.split_cpu`, else the one CPU)
                     "multiworker"  one process per worker, on one host or many; each reads the
                                    cluster and its own task from the TF_CONFIG environment variable

`train.batch_size` is PER REPLICA: a step takes batch_size × replicas windows (the global batch).
Each replica sums its masked cross-entropy and divides by the non-pad targets of the WHOLE global
batch (an all-reduce), so the sum of the replicas' gradients is the gradient one device computes
on that global batch. That sum is taken once, here; the optimizer then clips it by global norm and
every replica applies the same update. Same data, seed and global batch as `core.training.fit`:
the same weights, up to float rounding. (Dropout masks are drawn per replica, so with dropout the
two agree in distribution only.)

Data: each replica's slice of a global batch is cut here (`distribute_datasets_from_function`),
not by tf.distribute's automatic sharding, so every worker takes the same number of steps even
when the last global batch is short (a replica may then get an empty slice). Every worker reads
the whole window stream and keeps its own replicas' slices.

Checkpoints are `core.training`'s `checkpoint.npz`: plain numpy weights and optimizer variables,
independent of the number of replicas, so a run resumes under any strategy. Under "multiworker"
the chief (worker 0) writes RUN_DIR and worker k writes the same files into RUN_DIR.worker-k
(`cluster.worker_run_dir`), which it resumes from.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jazzgen.core.cluster import check_strategy, is_chief, make_strategy
from jazzgen.core.corpus import make_windows
from jazzgen.core.loop import StepBackend, TrainResult, show_progress
from jazzgen.core.models import ModelConfig
from jazzgen.core.shards import DEFAULT_SHUFFLE_BUFFER, has_shards, window_count, window_dataset
from jazzgen.core.training import chunks_for, load_checkpoint, masked_sums, save_checkpoint, set_threads
from jazzgen.core.vocab import BOS, EOS
from jazzgen.errors import UsageError

# --- windows, epoch by epoch ----------------------------------------------------------------------


@dataclass
class WindowSource:
    """Training or validation windows: how many per epoch, and a tf.data stream of them."""

    count: int  # windows per epoch
    stream: Callable[[int, int], Any]  # (epoch, batch) -> tf.data.Dataset of (x, y) # (B, T) each


def array_windows(x: np.ndarray, y: np.ndarray, seed: int | None) -> WindowSource:
    """Windows held in memory. With a seed, each epoch is shuffled exactly as `core.training.fit`
    shuffles it (so the runs are comparable batch for batch); None keeps the order."""

    def stream(epoch: int, batch: int):
        import tensorflow as tf

        order = np.random.default_rng([seed, epoch]).permutation(len(x)) if seed is not None else slice(None)
        return tf.data.Dataset.from_tensor_slices((x[order], y[order])).batch(batch)

    return WindowSource(len(x), stream)


def shard_windows(
    corpus_dir: str | Path,
    piece_indices,
    seq_len: int,
    stride: int,
    seed: int | None,
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
) -> WindowSource:
    """Windows streamed from the shards (`core.shards.window_dataset`); seed None: no shuffle."""

    def stream(epoch: int, batch: int):
        if seed is None:
            return window_dataset(corpus_dir, piece_indices, seq_len, stride, batch, 0, shuffle_buffer=0)
        epoch_seed = int(np.random.default_rng([seed, epoch]).integers(2**31))  # resumable
        return window_dataset(corpus_dir, piece_indices, seq_len, stride, batch, epoch_seed, shuffle_buffer)

    return WindowSource(window_count(corpus_dir, piece_indices, seq_len, stride), stream)


def prepare(corpus, train_idx, val_idx, cfg) -> tuple[WindowSource, WindowSource, Callable]:
    """The jazz train stage's windows and fit function when it streams shards or distributes.

    Returns (train windows, validation windows, fit) where `fit` takes `core.training.fit`'s
    arguments. A corpus with shards streams them; otherwise windows are cut in memory.
    """
    check_strategy(cfg.train.strategy)
    d, seed = cfg.data, cfg.train.seed
    if has_shards(corpus.path):
        train = shard_windows(corpus.path, train_idx, d.seq_len, d.stride, seed)
        val = shard_windows(corpus.path, val_idx, d.seq_len, d.seq_len, None)
    else:
        bos, eos = corpus.vocab.id(BOS), corpus.vocab.id(EOS)
        train = array_windows(*make_windows(corpus, train_idx, d.seq_len, d.stride, bos, eos), seed)
        val = array_windows(*make_windows(corpus, val_idx, d.seq_len, d.seq_len, bos, eos), None)
    return train, val, functools.partial(fit_distributed, strategy=cfg.train.strategy)


# --- the compiled steps ---------------------------------------------------------------------------


def _replica_slices(ds, context, per_replica: int):
    """Global batches -> this worker's replicas' slices of each, in replica order (never empty)."""
    import tensorflow as tf

    local = context.num_replicas_in_sync // context.num_input_pipelines
    mine = tf.range(context.input_pipeline_id * local, (context.input_pipeline_id + 1) * local, dtype=tf.int64)

    def split(x, y):  # (G, T) -> `local` elements of (1 to per_replica, T)
        def cut(r):
            xs, ys = x[r * per_replica : (r + 1) * per_replica], y[r * per_replica : (r + 1) * per_replica]
            # An idle replica gets one all-padding window, not an empty slice: its targets are
            # all 0, so its loss, count and gradient are exactly zero (as for no window), and the
            # fused LSTM's gradient kernel is never asked to contract over zero rows.
            pad = tf.zeros([1, tf.shape(x)[1]], x.dtype)
            empty = tf.equal(tf.shape(xs)[0], 0)
            return tf.cond(empty, lambda: (pad, pad), lambda: (xs, ys))

        return tf.data.Dataset.from_tensor_slices(mine).map(cut)

    return ds.flat_map(split).prefetch(tf.data.AUTOTUNE)


def _reduced_gradient_adam(learning_rate: float, clip_norm: float):
    """Adam for gradients that are already summed across replicas.

    Keras 3 clips each replica's own gradient and then sums (`_all_reduce_sum_gradients`), so a
    global-norm clip would see partial norms. The train step sums first; this Adam clips that
    sum, as one device would, and does not sum it again.
    """
    import keras

    if not hasattr(keras.optimizers.Adam, "_all_reduce_sum_gradients"):
        raise RuntimeError("this Keras aggregates gradients differently; core/distributed.py needs updating")

    class ReducedGradientAdam(keras.optimizers.Adam):
        def _all_reduce_sum_gradients(self, grads_and_vars):
            return list(grads_and_vars)

    return ReducedGradientAdam(learning_rate=learning_rate, global_clipnorm=clip_norm)


def build_distributed_steps(strategy, model, optimizer):
    """Compiled chunk functions (train, eval): (iterator, steps) -> summed loss, targets, hits."""
    import tensorflow as tf

    SUM = tf.distribute.ReduceOp.SUM
    variables = model.trainable_variables

    def train_step(x, y):  # on each replica: x, y # (b, T), b = its slice of the global batch
        context = tf.distribute.get_replica_context()
        n_global = context.all_reduce(SUM, tf.reduce_sum(tf.cast(tf.not_equal(y, 0), tf.float32)))
        with tf.GradientTape() as tape:
            loss_sum, n, hits = masked_sums(model(x, training=True), y)
            loss = loss_sum / tf.maximum(n_global, 1.0)  # this replica's share of the global mean
        grads = context.all_reduce(SUM, tape.gradient(loss, variables))  # = one device's gradient
        # Adam clips the sum by global norm (as one device would) and does not sum it again.
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return loss_sum, n, hits

    def eval_step(x, y):
        return masked_sums(model(x, training=False), y)

    def chunk(step):
        @tf.function(reduce_retracing=True)
        def run(iterator, steps):
            total, count, correct = tf.constant(0.0), tf.constant(0.0), tf.constant(0.0)
            for _ in tf.range(steps):
                t, n, c = strategy.run(step, args=next(iterator))
                total += strategy.reduce(SUM, t, axis=None)
                count += strategy.reduce(SUM, n, axis=None)
                correct += strategy.reduce(SUM, c, axis=None)
            return total, count, correct

        return run

    return chunk(train_step), chunk(eval_step)


def _run_chunks(
    strategy,
    chunk_fn,
    source: WindowSource,
    epoch: int,
    per_replica: int,
    progress: bool,
    label: str,
):
    import tensorflow as tf

    global_batch = per_replica * strategy.num_replicas_in_sync
    n_steps = math.ceil(source.count / global_batch)
    if n_steps == 0:
        return float("nan"), float("nan")
    dataset = strategy.distribute_datasets_from_function(
        lambda context: _replica_slices(source.stream(epoch, global_batch), context, per_replica)
    )
    iterator = iter(dataset)
    bounds = np.linspace(0, n_steps, chunks_for(n_steps) + 1).astype(int)
    total = count = correct = 0.0
    for first, last in zip(bounds[:-1], bounds[1:], strict=True):
        t, n, c = chunk_fn(iterator, tf.constant(int(last - first)))
        total, count, correct = total + float(t), count + float(n), correct + float(c)
        if progress:
            show_progress(label, int(last), n_steps)
    return total / max(count, 1.0), correct / max(count, 1.0)


def _any_worker(strategy, flag: bool) -> bool:
    """True on every worker when `flag` is true on any of them (an all-reduce)."""
    import tensorflow as tf

    @tf.function  # collectives run eagerly would warn of their overhead
    def vote(value):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(tf.identity, args=(value,)), axis=None)

    return float(vote(tf.constant(float(flag)))) > 0


def _check_same_epoch(strategy, epoch: int) -> None:
    """Every worker must resume at the same epoch, or their collectives would wait forever."""
    import tensorflow as tf

    @tf.function
    def sums(value):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(tf.identity, args=(value,)), axis=None)

    total, squares = (float(v) for v in sums(tf.constant([float(epoch), float(epoch) ** 2])))
    if total * total != strategy.num_replicas_in_sync * squares:  # equal iff all epochs are equal
        raise UsageError(
            "workers resume from different epochs: copy the chief's run directory to "
            "every worker's RUN_DIR.worker-K before --resume"
        )


# --- the loop -------------------------------------------------------------------------------------


class DistributedBackend(StepBackend):
    """A tf.distribute strategy's replicas over streamed windows (module docstring)."""

    checkpoint_each_epoch = True  # workers must agree on which epoch a checkpoint holds

    def __init__(self, strategy: str, dist, models, optimizer, train: WindowSource, val: WindowSource,
                 batch_size: int, on_best: Callable[[object], None] | None):
        self.strategy, self.dist, self.models, self.optimizer = strategy, dist, models, optimizer
        self.train_chunk, self.eval_chunk = build_distributed_steps(dist, models.train, optimizer)
        self.train, self.val, self.batch_size, self.on_best = train, val, batch_size, on_best
        self.show_progress = sys.stderr.isatty() and is_chief(strategy)

    def restore(self, path: Path) -> dict:
        with self.dist.scope():
            return load_checkpoint(path, self.models.train, self.optimizer)

    def save(self, path: Path, state: dict) -> None:
        save_checkpoint(path, self.models.train, self.optimizer, state)

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        return _run_chunks(self.dist, self.train_chunk, self.train, epoch, self.batch_size,
                           self.show_progress, "train")

    def evaluate(self, epoch: int) -> tuple[float, float]:
        return _run_chunks(self.dist, self.eval_chunk, self.val, epoch, self.batch_size, False, "val")

    def export_best(self) -> None:
        if self.on_best:
            self.on_best(self.models)

    def agree(self, flag: bool) -> bool:
        return _any_worker(self.dist, flag) if self.strategy == "multiworker" else flag

    def check_resume(self, epoch: int) -> None:
        if self.strategy == "multiworker":
            _check_same_epoch(self.dist, epoch)


def distributed_backend(strategy: str, model_config: ModelConfig, vocab_size: int, train: WindowSource,
                        val: WindowSource, settings: dict, log: Callable[[str], None]) -> DistributedBackend:
    """The models, Adam and compiled steps under a tf.distribute strategy, as a loop backend.

    `settings`: batch_size (windows per replica), learning_rate, clip_norm, seed, on_best and
    threads (intra-op threads when given; None keeps TensorFlow's default: replicas on logical
    CPUs share the cores between them, so `auto_threads` does not apply).
    """
    import keras
    import tensorflow as tf

    from jazzgen.core.models import build_models

    if settings.get("threads"):
        set_threads(settings["threads"], log)  # a setting, not TF work: it must precede the strategy
    dist = make_strategy(strategy)  # first: multi-worker collectives start before any other TF work
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(settings["seed"])
    with dist.scope():  # variables (model and optimizer) are mirrored on every replica
        models = build_models(model_config, vocab_size)
        optimizer = _reduced_gradient_adam(settings["learning_rate"], settings["clip_norm"])
        optimizer.build(models.train.trainable_variables)
    batch = settings["batch_size"]
    log(f"strategy {strategy}: {dist.num_replicas_in_sync} replica(s), global batch "
        f"{batch * dist.num_replicas_in_sync} ({batch} per replica)")
    return DistributedBackend(strategy, dist, models, optimizer, train, val, batch, settings.get("on_best"))


def fit_distributed(model_config: ModelConfig, vocab_size: int, train: WindowSource, val: WindowSource,
                    run_dir: Path, *, strategy: str = "mirrored", **settings) -> TrainResult:
    """`core.training.fit` under a tf.distribute strategy, on streamed windows.

    The same loop as `fit` (`core.loop.run_epochs`), except that it checkpoints after every
    epoch whatever `checkpoint_every_s` says: workers must agree on which epoch a checkpoint
    holds, and distributed epochs are long anyway.

    Args:
        train, val: the windows (`array_windows`, `shard_windows`).
        strategy: "default", "mirrored" or "multiworker" (module docstring).
        settings: as for `fit`; batch_size is windows per replica (a step takes batch_size ×
            replicas); threads None keeps TensorFlow's default.
    Returns:
        TrainResult; run_dir holds checkpoint.npz, history.csv and tensorboard/ as after `fit`.
    """
    from jazzgen.core.training import fit

    return fit(model_config, vocab_size, train, val, run_dir, strategy=strategy, **settings)
