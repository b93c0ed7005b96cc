"""Training speed of jazzgen's compiled loop, and of the course's unrolled `djmodel` beside it.

    python benchmarks/train_throughput.py --hidden 64 --vocab 90 --seq-len 30 --windows 60 \
        --batch 32 --epochs 100 --course
    python benchmarks/train_throughput.py --hidden 256 --vocab 2879 --embedding-dim 64 \
        --condition-dim 105 --dropout 0.3 --seq-len 64 --windows 640 --batch 64 --epochs 4
                                                        # the default model (pipelines/wjd.toml)

Prints ONE JSON object on stdout (progress goes to stderr):

    values_per_s   windows x seq_len x (E - 1) / seconds of epochs 2..E (epoch 1 traces graphs)
    total_seconds  from building the model to the end of epoch E, epoch 1 included (imports not)
    final_loss     mean training loss of epoch E (random data: it tends to ln V from above)
    share_of_matmul_peak  flops_per_value x values_per_s / matmul_peak_gflops, where
                   flops_per_value counts the model's matmuls (`_util.train_flops_per_value`:
                   3 x 2 x (4 H (H + E) + H V), E = embedding + condition features, or V one-hot)
                   and matmul_peak_gflops is TensorFlow's rate on a 2048^2 matmul measured in the
                   same process after training, on the same intra-op threads (`matmul_rate.py`)

`--loop fit` (default) times `jazzgen.core.training.fit` as `jazzgen train` runs it: a temporary
run directory, a checkpoint written after every epoch, patience 0. `--loop chunks` times only the
compiled chunk functions (`build_step_functions` + `_run_chunks`), without the per-epoch files.

With `--course`, the course's "Improvise a Jazz Solo with an LSTM Network" model of the same size
(one Python step per time step, Tx outputs, `model.fit([X, a0, c0], list(Y))`) is timed too and
the figures are printed side by side with the speed-ups. Each model is timed in a fresh child
process, so neither pays or profits from the other's TensorFlow start-up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _util import child_env, machine, train_flops_per_value


def random_windows(n: int, seq_len: int, vocab: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random ids in [1, vocab) (0 is padding, masked by jazzgen): x, y # (N, T) int32 each."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, size=(n, seq_len), dtype=np.int32)
    y = rng.integers(1, vocab, size=(n, seq_len), dtype=np.int32)
    return x, y


def now() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process over all its threads)."""
    return time.perf_counter(), time.process_time()


def figures(start: tuple[float, float], epoch_ends: list[tuple[float, float]],
            values_per_epoch: int, final_loss: float) -> dict:
    """The reported numbers from the build time and the end time of every epoch.

    The CPU-time twins (`*_cpu_*`) move less than wall time when other programs share the cores.
    """
    values = values_per_epoch * (len(epoch_ends) - 1)  # epochs 2..E
    (w0, c0), (w1, c1), (wE, cE) = start, epoch_ends[0], epoch_ends[-1]
    return {
        "values_per_s": round(values / (wE - w1), 1),
        "total_seconds": round(wE - w0, 3),
        "first_epoch_seconds": round(w1 - w0, 3),
        "values_per_cpu_s": round(values / (cE - c1), 1),
        "total_cpu_seconds": round(cE - c0, 3),
        "final_loss": round(float(final_loss), 5),
    }


def random_rows(n: int, seq_len: int, vocab: int, condition_dim: int, seed: int):
    """Windows for a conditioned model: rows [id, features in [0, 1)...] # (N, T, 1 + F) float32, y."""
    x, y = random_windows(n, seq_len, vocab, seed)
    features = np.random.default_rng([seed, 1]).random((n, seq_len, condition_dim), np.float32)
    return np.concatenate([x[..., None].astype(np.float32), features], axis=-1), y


def matmul_share(a: argparse.Namespace, values_per_s: float) -> dict:
    """The training's matmul GFLOP/s and its share of this process's large-matmul rate."""
    import tensorflow as tf
    from matmul_rate import TFMatmul, rate

    input_width = (a.embedding_dim or a.vocab) + a.condition_dim
    flops = train_flops_per_value(a.hidden, input_width, a.vocab)
    gflops = flops * values_per_s / 1e9
    peak = rate(TFMatmul(), a.peak_size, a.peak_size, a.peak_size)  # on the training's threads
    return {"flops_per_value": flops, "gflops": round(gflops, 1),
            "matmul_peak_gflops": round(peak, 1), "share_of_matmul_peak": round(gflops / peak, 3),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}


def time_jazzgen(a: argparse.Namespace) -> dict:
    """jazzgen's shared-layer model on random windows, through `fit` or the chunk functions."""
    import keras  # noqa: F401  (imported before the clock starts)
    import tensorflow as tf  # noqa: F401

    from jazzgen.config import TrainConfig
    from jazzgen.core import training
    from jazzgen.core.models import ModelConfig, build_models

    cfg = ModelConfig(cell="lstm", units=a.hidden, embedding_dim=a.embedding_dim,
                      condition_dim=a.condition_dim, dropout=a.dropout)
    if a.condition_dim:
        x, y = random_rows(a.windows, a.seq_len, a.vocab, a.condition_dim, a.seed)
    else:
        x, y = random_windows(a.windows, a.seq_len, a.vocab, a.seed)
    no_val = (x[:0], y[:0])
    ends: list[tuple[float, float]] = []
    losses: list[float] = []

    if a.loop == "fit":
        def log(line: str) -> None:  # fit logs once per epoch, after its checkpoint is written
            if line.startswith("epoch "):
                ends.append(now())
                losses.append(float(line.split("loss ")[1].split()[0]))
                print(f"  jazzgen {line}", file=sys.stderr)

        with tempfile.TemporaryDirectory() as run_dir:
            start = now()
            training.fit(cfg, a.vocab, (x, y), no_val, Path(run_dir), epochs=a.epochs,
                         batch_size=a.batch, learning_rate=a.lr, clip_norm=1.0, patience=0,
                         seed=a.seed, log=log,
                         # as `jazzgen train` runs it (TrainConfig's default)
                         checkpoint_every_s=TrainConfig().checkpoint_every_s)
    else:
        start = now()
        keras.utils.set_random_seed(a.seed)
        model = build_models(cfg, a.vocab).train
        optimizer = keras.optimizers.Adam(learning_rate=a.lr, global_clipnorm=1.0)
        optimizer.build(model.trainable_variables)
        train_chunk, _ = training.build_step_functions(model, optimizer, a.batch)
        for epoch in range(1, a.epochs + 1):
            order = np.random.default_rng([a.seed, epoch]).permutation(len(x))
            loss, _ = training._run_chunks(train_chunk, x[order], y[order], a.batch, False, "train")
            ends.append(now())
            losses.append(loss)
            if epoch in (1, a.epochs) or epoch % 10 == 0:
                print(f"  jazzgen epoch {epoch}: loss {loss:.4f}", file=sys.stderr)
    out = figures(start, ends, a.windows * a.seq_len, losses[-1])
    batches = -(-a.windows // a.batch)
    out.update(loop=a.loop, chunks_per_epoch=training.chunks_for(batches))
    out.update(matmul_share(a, out["values_per_s"]))  # after the clock: no figure above moves
    return out


def time_course(a: argparse.Namespace) -> dict:
    """The course notebook's `djmodel`, built and trained as the notebook does (in Keras 3)."""
    import keras
    import tensorflow as tf  # noqa: F401
    from keras.layers import LSTM, Dense, Input, Lambda, Reshape
    from keras.models import Model
    from keras.optimizers import Adam

    n_a, n_values, Tx, m = a.hidden, a.vocab, a.seq_len, a.windows
    ids_x, ids_y = random_windows(m, Tx, n_values, a.seed)
    X = np.eye(n_values, dtype=np.float32)[ids_x]                       # (m, Tx, n_values)
    Y = np.eye(n_values, dtype=np.float32)[ids_y].transpose(1, 0, 2)    # (Tx, m, n_values)
    a0 = np.zeros((m, n_a), np.float32)
    c0 = np.zeros((m, n_a), np.float32)

    class EpochEnds(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends, self.losses = [], []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(now())
            self.losses.append(float(logs["loss"]))
            if epoch + 1 in (1, a.epochs) or (epoch + 1) % 10 == 0:
                print(f"  course epoch {epoch + 1}: loss {logs['loss']:.4f}", file=sys.stderr)

    start = now()
    keras.utils.set_random_seed(a.seed)
    # --- the notebook's djmodel, line for line -------------------------------------------
    reshaper = Reshape((1, n_values))
    LSTM_cell = LSTM(n_a, return_state=True)
    densor = Dense(n_values, activation="softmax")

    def djmodel(Tx, n_a, n_values):
        X = Input(shape=(Tx, n_values))
        a0 = Input(shape=(n_a,), name="a0")
        c0 = Input(shape=(n_a,), name="c0")
        a, c = a0, c0
        outputs = []
        for t in range(Tx):
            x = Lambda(lambda z, t=t: z[:, t, :])(X)  # Keras 3: slice the Lambda's own input
            x = reshaper(x)
            a, _, c = LSTM_cell(x, initial_state=[a, c])
            out = densor(a)
            outputs.append(out)
        return Model(inputs=[X, a0, c0], outputs=outputs)

    model = djmodel(Tx=Tx, n_a=n_a, n_values=n_values)
    # Adam(lr=0.01, beta_1=0.9, beta_2=0.999, decay=0.01): Keras 3 spells the legacy
    # decay lr / (1 + decay * iterations) as an InverseTimeDecay schedule.
    schedule = keras.optimizers.schedules.InverseTimeDecay(0.01, decay_steps=1, decay_rate=0.01)
    opt = Adam(learning_rate=schedule, beta_1=0.9, beta_2=0.999)
    model.compile(optimizer=opt, loss="categorical_crossentropy",
                  metrics=["accuracy"] * Tx)  # Keras 3 wants one metric list entry per output
    # ---------------------------------------------------------------------------------------
    timer = EpochEnds()
    model.fit([X, a0, c0], list(Y), epochs=a.epochs, batch_size=a.batch, verbose=0,
              callbacks=[timer])
    # the notebook's loss is the SUM of Tx per-output losses: report the mean, like jazzgen's
    return figures(start, timer.ends, m * Tx, timer.losses[-1] / Tx)


def child(part: str, argv: list[str]) -> dict:
    """Run one part in a fresh Python process and read its JSON line."""
    cmd = [sys.executable, __file__, *argv, "--part", part]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, env=child_env())
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=64, help="LSTM units n_a")
    p.add_argument("--vocab", type=int, default=90, help="values in the vocabulary (n_values)")
    p.add_argument("--seq-len", type=int, default=30, help="values per window (Tx)")
    p.add_argument("--windows", type=int, default=60, help="training windows (m)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=100, help=">= 2 (epoch 1 is not in values_per_s)")
    p.add_argument("--embedding-dim", type=int, default=0, help="0 = one-hot input, as the course")
    p.add_argument("--condition-dim", type=int, default=0,
                   help="features beside each id (pipelines/wjd.toml's data.condition: 105)")
    p.add_argument("--dropout", type=float, default=0.0, help="after the LSTM (pipelines/wjd.toml: 0.3)")
    p.add_argument("--peak-size", type=int, default=2048, help="side of the peak matmul")
    p.add_argument("--lr", type=float, default=0.01, help="jazzgen's Adam rate (the course's 0.01)")
    p.add_argument("--loop", choices=("fit", "chunks"), default="fit",
                   help="fit: training.fit, checkpoint every epoch; chunks: the compiled loop only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--course", action="store_true", help="also time the course's djmodel")
    p.add_argument("--part", choices=("jazzgen", "course"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.epochs < 2:
        p.error("--epochs must be >= 2")
    if a.course and (a.condition_dim or a.dropout):
        p.error("--course times the course's one-hot model: no --condition-dim or --dropout")
    shape = {k: getattr(a, k) for k in ("hidden", "vocab", "seq_len", "windows", "batch", "epochs",
                                        "embedding_dim", "condition_dim", "dropout")}
    if a.part == "jazzgen":
        result = time_jazzgen(a)
    elif a.part == "course":
        result = time_course(a)
    elif not a.course:
        result = {**shape, **child("jazzgen", sys.argv[1:])}
    else:
        argv = [s for s in sys.argv[1:] if s != "--course"]
        jazz = child("jazzgen", argv)
        course = child("course", argv)
        result = {**shape, "jazzgen": jazz, "course": course,
                  "speedup_steady": round(jazz["values_per_s"] / course["values_per_s"], 2),
                  "speedup_total": round(course["total_seconds"] / jazz["total_seconds"], 2)}
    if a.part is None:
        result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
