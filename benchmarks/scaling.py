"""Scaling figures: training values/s on 1 and 2 replicas, preprocessing files/s on 1 and 2
workers, and the peak memory of streamed shards against in-memory windows as the corpus grows.

    python benchmarks/scaling.py [--replicas 1,2] [--workers 1,2] [--files 0] [--repeat 1,16]

train       a synthetic corpus (--pieces pieces of --values values, vocabulary 60), the LSTM with
            --units units, --epochs epochs, per-replica batch --batch. "default" is
            `core.training.fit`; "mirrored_N" is `core.distributed.fit_distributed` with the CPU
            split into N logical devices (each in its own process: devices are fixed when
            TensorFlow starts). The global batch is --batch × N, so N replicas take N× fewer
            steps. values/s = training windows × seq_len / the median seconds of the epochs
            after the first (which traces the graphs).
preprocess  `jazzgen preprocess` on the first --files files of data/midi/wjd (0 = all), cold cache,
            --workers 1 and 2: files/s over the stage's own seconds and over the wall time.
memory      peak RSS (MiB) of reading every training window of a synthetic corpus repeated
            --repeat times: streamed from shards (`core.shards.window_dataset`) and cut in
            memory (`core.corpus.make_windows`, the default path). The stream's process holds
            TensorFlow (its floor is `import tensorflow`); the in-memory one does not.
Prints ONE JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _util import ROOT, jazzgen_cmd, machine, run_child

sys.path.insert(0, str(ROOT))
SEQ_LEN, STRIDE = 64, 32


def write_synthetic(path: Path, pieces: int, values: int, repeat: int = 1, shard_size: int = 0) -> None:
    """A corpus of random-walk values (the same base pieces `repeat` times)."""
    import numpy as np

    from jazzgen.core.corpus import write_corpus
    from jazzgen.core.shards import write_shards
    from jazzgen.core.vocab import Vocab

    rng = np.random.default_rng(0)
    base = [[f"v{int(v)}" for v in np.cumsum(rng.integers(-3, 4, values)) % 60] for _ in range(pieces)]
    vocab = Vocab.from_tokens(t for ts in base for t in ts)
    token_lists = base * repeat  # references to the same lists: the parent stays small
    meta = [{"source": f"p{i}", "chords": []} for i in range(len(token_lists))]
    write_corpus(path, "jazz", {"name": "synthetic"}, vocab, token_lists, meta, {"kept": [], "skipped": []})
    write_shards(path, shard_size)


# --- children (each a fresh process) --------------------------------------------------------------


def child_train(corpus: str, strategy: str, replicas: int, units: int, epochs: int, batch: int) -> dict:
    from jazzgen.core.cluster import split_cpu
    from jazzgen.core.distributed import array_windows, fit_distributed

    if strategy == "mirrored":
        split_cpu(replicas)
    from jazzgen.core.corpus import make_windows, read_corpus, split_pieces
    from jazzgen.core.models import ModelConfig
    from jazzgen.core.training import fit
    from jazzgen.core.vocab import BOS, EOS

    c = read_corpus(corpus)
    train_idx, val_idx = split_pieces(len(c), 0.05, 0)
    bos, eos = c.vocab.id(BOS), c.vocab.id(EOS)
    train = make_windows(c, train_idx, SEQ_LEN, STRIDE, bos, eos)
    val = make_windows(c, val_idx, SEQ_LEN, SEQ_LEN, bos, eos)
    cfg = ModelConfig(units=units)
    kw = dict(epochs=epochs, learning_rate=0.002, clip_norm=1.0, patience=0, seed=0, log=lambda m: None)
    with tempfile.TemporaryDirectory() as run:
        if strategy == "default":
            result = fit(cfg, len(c.vocab), train, val, Path(run), batch_size=batch, **kw)
        else:
            result = fit_distributed(
                cfg,
                len(c.vocab),
                array_windows(*train, 0),
                array_windows(*val, None),
                Path(run),
                strategy=strategy,
                batch_size=batch,
                **kw,
            )
    steady = [h["seconds"] for h in result.history[1:]] or [result.history[0]["seconds"]]
    seconds = statistics.median(steady)  # the median: other jobs on the machine add outliers
    return {
        "windows": len(train[0]),
        "epoch_seconds": round(seconds, 2),
        "first_epoch_seconds": result.history[0]["seconds"],
        "values_per_s": round(len(train[0]) * SEQ_LEN / seconds, 1),
        "global_batch": batch * (replicas if strategy == "mirrored" else 1),
    }


def child_stream(corpus: str) -> dict:
    import numpy as np

    from jazzgen.core.shards import window_dataset

    n_pieces = len(np.load(Path(corpus) / "offsets.npy")) - 1
    t0 = time.perf_counter()
    n = sum(len(x) for x, _ in window_dataset(corpus, np.arange(n_pieces), SEQ_LEN, STRIDE, 64, 0).as_numpy_iterator())
    return {"windows": n, "seconds": round(time.perf_counter() - t0, 2)}


def child_windows(corpus: str) -> dict:
    import numpy as np

    from jazzgen.core.corpus import make_windows, read_corpus
    from jazzgen.core.vocab import BOS, EOS

    c = read_corpus(corpus)
    t0 = time.perf_counter()
    x, _ = make_windows(c, np.arange(len(c)), SEQ_LEN, STRIDE, c.vocab.id(BOS), c.vocab.id(EOS))
    return {"windows": len(x), "seconds": round(time.perf_counter() - t0, 2)}


# --- the parent -----------------------------------------------------------------------------------


def run_json(args: list[str]) -> dict:
    r = run_child([sys.executable, __file__, *args], cwd=ROOT)
    if r["code"] != 0:
        raise RuntimeError(f"{' '.join(args)} exited {r['code']}: {r['stderr'].strip()[-800:]}")
    return {**json.loads(r["stdout"].strip().splitlines()[-1]), "peak_rss_mib": r["peak_rss_mib"]}


def bench_train(tmp: Path, a) -> dict:
    corpus = tmp / "train-corpus"
    write_synthetic(corpus, a.pieces, a.values)
    common = ["--units", str(a.units), "--epochs", str(a.epochs), "--batch", str(a.batch)]
    out = {
        "pieces": a.pieces,
        "values_per_piece": a.values,
        "units": a.units,
        "seq_len": SEQ_LEN,
        "batch_per_replica": a.batch,
        "default": run_json(["--child", "train", str(corpus), "--strategy", "default", *common]),
    }
    for n in a.replicas:
        out[f"mirrored_{n}"] = run_json(
            ["--child", "train", str(corpus), "--strategy", "mirrored", "--n", str(n), *common]
        )
        print(f"  mirrored {n}: {out[f'mirrored_{n}']['values_per_s']} values/s", file=sys.stderr)
    return out


def bench_preprocess(tmp: Path, a) -> dict:
    src = tmp / "midi"
    src.mkdir()
    files = sorted((ROOT / "data" / "midi" / "wjd").glob("*.mid"))[: a.files or None]
    for f in files:
        shutil.copy(f, src / f.name)
    out = {"files": len(files)}
    for w in a.workers:
        r = run_child(
            [
                *jazzgen_cmd(),
                "preprocess",
                str(src),
                "-o",
                str(tmp / f"corpus-w{w}"),
                "--workers",
                str(w),
            ],
            cwd=ROOT,
        )
        if r["code"] != 0:
            raise RuntimeError(f"preprocess exited {r['code']}: {r['stderr'].strip()[-800:]}")
        stage = float(re.search(r"([\d.]+) s -> ", r["stdout"]).group(1))
        out[f"workers_{w}"] = {
            "stage_seconds": stage,
            "wall_seconds": round(r["seconds"], 2),
            "files_per_s": round(len(files) / stage, 1),
            "files_per_s_wall": round(len(files) / r["seconds"], 1),
        }
        print(
            f"  preprocess workers {w}: {out[f'workers_{w}']['files_per_s']} files/s",
            file=sys.stderr,
        )
    return out


def bench_memory(tmp: Path, a) -> dict:
    out = {"pieces": a.mem_pieces, "values_per_piece": a.mem_values}
    for r in a.repeat:
        corpus = tmp / f"mem-{r}"
        write_synthetic(corpus, a.mem_pieces, a.mem_values, repeat=r, shard_size=50_000)
        out[f"x{r}"] = {
            "values": a.mem_pieces * a.mem_values * r,
            "streamed": run_json(["--child", "stream", str(corpus)]),
            "in_memory": run_json(["--child", "windows", str(corpus)]),
        }
        shutil.rmtree(corpus)
        print(
            f"  memory x{r}: {out[f'x{r}']['streamed']['peak_rss_mib']} MiB streamed, "
            f"{out[f'x{r}']['in_memory']['peak_rss_mib']} MiB in memory",
            file=sys.stderr,
        )
    floor = run_child([sys.executable, "-c", "import tensorflow"], cwd=ROOT)
    out["import_tensorflow_mib"] = floor["peak_rss_mib"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", nargs=2, metavar=("KIND", "CORPUS"), help=argparse.SUPPRESS)
    p.add_argument("--strategy", default="mirrored", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--replicas", default="1,2", help="logical CPU devices, comma-separated")
    p.add_argument("--workers", default="1,2", help="preprocess worker counts, comma-separated")
    p.add_argument("--files", type=int, default=0, help="MIDI files for the preprocess figures (0 = all)")
    p.add_argument("--repeat", default="1,16", help="corpus repeats for the memory figures")
    p.add_argument("--pieces", type=int, default=120)
    p.add_argument("--values", type=int, default=400)
    p.add_argument("--mem-pieces", type=int, default=200)
    p.add_argument("--mem-values", type=int, default=2000)
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=32, help="windows per replica")
    p.add_argument("--only", default="train,preprocess,memory", help="sections to run")
    a = p.parse_args()
    if a.child:
        kind, corpus = a.child
        result = {
            "train": lambda: child_train(corpus, a.strategy, a.n, a.units, a.epochs, a.batch),
            "stream": lambda: child_stream(corpus),
            "windows": lambda: child_windows(corpus),
        }[kind]()
        print(json.dumps(result))
        return
    a.replicas = [int(x) for x in a.replicas.split(",")]
    a.workers = [int(x) for x in a.workers.split(",")]
    a.repeat = [int(x) for x in a.repeat.split(",")]
    sections = {"train": bench_train, "preprocess": bench_preprocess, "memory": bench_memory}
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.only.split(","):
            try:
                result[name] = sections[name](Path(tmp), a)
            except RuntimeError as e:
                result[name] = {"error": str(e)}
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
