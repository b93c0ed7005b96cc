"""Sampling speed: values drawn per second, batch 1 and 64, numpy and Keras engines.

    python benchmarks/sample_throughput.py [--steps 256] [--repeats 3] [--backends numpy,keras]

Uses --export, else the bundled model (jazzgen/assets/default_model/export.npz) when it exists,
else random weights of the default size (ModelConfig(units=256, embedding_dim=64), --vocab ids).
Each figure is the median of --repeats runs of `sample_sequences` drawing --steps values per
sequence (no stop id, no budget: every sequence runs all steps). Beside each, the share of the
time spent in `engine.step` (the network) and in `choose` (softmax + draw) is measured separately.

Prints ONE JSON object on stdout:
    {"model": ..., "numpy": {"batch_1": {"values_per_s": ...}, "batch_64": {...}}, "keras": {...}}
"""

from __future__ import annotations

import os

# Measure what the command line runs: `jazzgen` pins OpenBLAS to one thread before numpy loads
# (jazzgen/cli.py), which is 3-5x faster for these (1, H) x (H, 4H) products than a thread pool.
# Set OPENBLAS_NUM_THREADS yourself to time another setting; the JSON says which was used.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _util import ROOT, machine

from jazzgen.core.engine import NumpyEngine, choose
from jazzgen.core.models import ModelConfig, load_export
from jazzgen.core.sampling import sample_sequences
from jazzgen.core.vocab import SPECIALS

BUNDLED = ROOT / "jazzgen" / "assets" / "default_model" / "export.npz"


def random_weights(cfg: ModelConfig, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Keras-layout weights for a one-layer LSTM with an embedding (the export's names)."""
    rng = np.random.default_rng(seed)
    h, e = cfg.units, cfg.embedding_dim

    def w(*shape):
        return rng.normal(0.0, 0.1, shape).astype(np.float32)

    return {"embedding": w(vocab, e), "layer0/kernel": w(e, 4 * h),
            "layer0/recurrent_kernel": w(h, 4 * h), "layer0/bias": np.zeros(4 * h, np.float32),
            "head/kernel": w(h, vocab), "head/bias": np.zeros(vocab, np.float32)}


class FirstBeat:
    """A conditioned model's features held at the first beat: the network costs the same."""

    def __init__(self, batch: int, dim: int):
        self.features = np.zeros((batch, dim), np.float32)

    def start(self) -> np.ndarray:
        return self.features

    def advance(self, ids: np.ndarray) -> np.ndarray:
        return self.features


def time_sampling(engine, vocab: int, batch: int, steps: int, repeats: int) -> dict:
    """Median values/s of sample_sequences, and how the time splits between step and choose."""
    allowed = np.arange(vocab) >= len(SPECIALS)  # as generate does: specials are never drawn
    dim = engine.cfg.condition_dim
    runs = []
    for r in range(repeats + 1):  # the first run warms up (Keras traces its predict function)
        rng = np.random.default_rng(r)
        t0 = time.perf_counter()
        seqs = sample_sequences(engine, batch, rng, start_id=1, max_steps=steps, allowed=allowed,
                                condition=FirstBeat(batch, dim) if dim else None)
        runs.append(time.perf_counter() - t0)
        assert sum(len(s) for s in seqs) == batch * steps
    seconds = statistics.median(runs[1:])
    # the two halves of one sampling step, timed apart
    state = engine.initial_state(batch)
    ids = np.full(batch, 1, np.int64)
    rng = np.random.default_rng(0)
    t_step = t_choose = 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        rows = np.column_stack([ids, np.zeros((batch, dim))]) if dim else ids
        logits, state = engine.step(rows, state)
        t1 = time.perf_counter()
        ids = choose(logits, rng, mask=allowed)
        t_step += t1 - t0
        t_choose += time.perf_counter() - t1
    return {"values_per_s": round(batch * steps / seconds, 1),
            "ms_per_step": round(1000 * seconds / steps, 3),
            "share_network": round(t_step / (t_step + t_choose), 3),
            "share_choose": round(t_choose / (t_step + t_choose), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=256, help="values drawn per sequence")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median)")
    p.add_argument("--batches", default="1,64", help="batch sizes, comma-separated")
    p.add_argument("--backends", default="numpy,keras", help="numpy and/or keras")
    p.add_argument("--vocab", type=int, default=1500, help="vocabulary of the random model")
    p.add_argument("--export", default=None, help="an export.npz to time (default: the bundled)")
    p.add_argument("--random", action="store_true", help="random weights even if a bundle exists")
    a = p.parse_args()

    export = Path(a.export) if a.export else BUNDLED
    if export.is_file() and not a.random:
        cfg, vocab, weights = load_export(export)
        model = str(export)
    else:
        cfg, vocab = ModelConfig(units=256, embedding_dim=64), a.vocab
        weights = random_weights(cfg, vocab)
        model = "random weights"
    result: dict = {"model": model, "config": cfg.to_dict(), "vocab_size": vocab, "steps": a.steps}
    batches = [int(b) for b in a.batches.split(",")]
    for backend in a.backends.split(","):
        if backend == "numpy":
            engine = NumpyEngine(cfg, weights, vocab)
        elif backend == "keras":
            from jazzgen.core.engine import KerasEngine
            from jazzgen.core.models import build_models, import_weights

            models = build_models(cfg, vocab)
            import_weights(models, cfg, weights)
            engine = KerasEngine(models.step, cfg)
        else:
            p.error(f"unknown backend {backend!r}")
        result[backend] = {}
        for b in batches:
            print(f"  {backend} batch {b} ...", file=sys.stderr)
            result[backend][f"batch_{b}"] = time_sampling(engine, vocab, b, a.steps, a.repeats)
    result["machine"] = machine()
    result["blas_threads"] = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
