"""The machine's float32 matmul rate (GFLOP/s), numpy and TensorFlow: the ceiling under training.

    python benchmarks/matmul_rate.py [--hidden 64 --vocab 90 --batch 32 --embedding-dim 0]

Measured at a large square size (the peak) and at the shapes of one LSTM training step, and
turned into the values/s a perfect implementation could train at:

    multiply-adds per value, forward    4 H (H + E) + H V    (gates over [h; x], then the head)
    FLOPs per value, forward+backward   3 x 2 x that          (backward twice the forward)

with E the input width (the vocabulary V for one-hot input, else the embedding plus any
condition features; `_util.train_flops_per_value`). Prints ONE JSON object on stdout.
`train_throughput.py` measures the same peak inside its training process, on the threads the
training used, and prints the share of it the training reached.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _util import machine, train_flops_per_value


def rate(matmul, m: int, k: int, n: int, min_seconds: float = 0.5) -> float:
    """GFLOP/s of (m, k) @ (k, n), best of a few timed batches of calls."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    a, b = matmul.prepare(a), matmul.prepare(b)
    matmul(a, b)
    calls, best = 1, float("inf")
    while True:  # grow the batch until it takes a measurable time
        t0 = time.perf_counter()
        for _ in range(calls):
            matmul(a, b)
        dt = time.perf_counter() - t0
        if dt > min_seconds / 5:
            break
        calls *= 2
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            matmul(a, b)
        best = min(best, (time.perf_counter() - t0) / calls)
    return 2 * m * k * n * matmul.per_call / best / 1e9


class NumpyMatmul:
    per_call = 1
    prepare = staticmethod(lambda a: a)

    def __call__(self, a, b):
        return a @ b


class TFMatmul:
    """`per_call` matmuls inside one graph loop, as a training step runs them (no Python per op)."""

    per_call = 20

    def __init__(self):
        import tensorflow as tf

        self.prepare = tf.constant

        @tf.function
        def loop(a, b):
            acc = tf.constant(0.0)
            for i in tf.range(self.per_call):  # each product depends on i: nothing is hoisted
                acc += tf.linalg.matmul(a * tf.cast(i, tf.float32), b)[0, 0]
            return acc

        self.fn = loop

    def __call__(self, a, b):
        return self.fn(a, b).numpy()  # .numpy() waits for the result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--vocab", type=int, default=90)
    p.add_argument("--embedding-dim", type=int, default=0, help="0 = one-hot input (E = V)")
    p.add_argument("--condition-dim", type=int, default=0,
                   help="condition features beside the embedding (the jazz model's: 105)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=30, help="steps whose head runs as one matmul")
    p.add_argument("--size", type=int, default=2048, help="side of the square peak matmul")
    a = p.parse_args()
    H, V, B, T = a.hidden, a.vocab, a.batch, a.seq_len
    E = (a.embedding_dim or V) + a.condition_dim
    macs = 4 * H * (H + E) + H * V
    flops_per_value = train_flops_per_value(H, E, V)
    result: dict = {"hidden": H, "vocab": V, "input_width": E, "batch": B, "seq_len": T,
                    "macs_per_value_forward": macs, "flops_per_value_train": flops_per_value}
    for name, mm in (("numpy", NumpyMatmul()), ("tensorflow", TFMatmul())):
        peak = rate(mm, a.size, a.size, a.size)
        gates = rate(mm, B, H + E, 4 * H)   # one step's gates: [h; x] (B, H+E) @ (H+E, 4H)
        head = rate(mm, B * T, H, V)        # the head over a whole window at once
        result[name] = {"peak_gflops": round(peak, 1), "lstm_gates_gflops": round(gates, 2),
                        "head_gflops": round(head, 2),
                        "values_per_s_at_peak": round(peak * 1e9 / flops_per_value),
                        "values_per_s_at_step_shape": round(gates * 1e9 / flops_per_value)}
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
