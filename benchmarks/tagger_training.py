"""Training time of a tagger recipe (pipelines/pos.toml, pipelines/wnut17.toml), wall and CPU.

    python benchmarks/tagger_training.py pipelines/pos.toml [--epochs 2] [--sentences 2000]
        [--set text.char_features=lstm ...]

Preprocesses the recipe's sources (the first `--sentences` training sentences when given; the
validation and test files whole), trains `--epochs` epochs in a fresh child process and prints
ONE JSON object:

    epoch_seconds      wall seconds of each epoch (history.csv); the first holds graph tracing
    cpu_seconds        user + system CPU time of the training process (all its threads)
    wall_seconds       the training command from start to end
    val_accuracy       the last epoch's validation tag accuracy
    machine            CPU, cores and the 1-minute load average

On a shared machine the wall times grow with the load while the CPU time does not; a recipe's
`train.max_minutes` is a wall-clock cap, so compare `cpu_seconds / cores` with it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import ROOT, child_env, jazzgen_cmd, machine  # noqa: E402


def _head_sentences(src: Path, dst: Path, n: int) -> Path:
    """The first n blank-line-separated sentences of a (possibly gzipped) tagged file."""
    from jazzgen.text.readers import read_text

    blocks = [b for b in read_text(src).text.split("\n\n") if b.strip()]
    dst.write_text("\n\n".join(blocks[:n]) + "\n", encoding="utf-8")
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--sentences", type=int, default=0, help="training sentences (0 = all)")
    ap.add_argument("--set", action="append", default=[], dest="sets")
    args = ap.parse_args()
    recipe = tomllib.loads(args.recipe.read_text(encoding="utf-8"))
    sources = [ROOT / s for s in recipe["preprocess"]["sources"]]
    sets = [x for s in args.sets for x in ("--set", s)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.sentences:
            sources = [_head_sentences(s, tmp / s.name.removesuffix(".gz"), args.sentences)
                       if "train" in s.name else s for s in sources]
        cmd = jazzgen_cmd()
        subprocess.run([*cmd, "preprocess", *map(str, sources), "--pipeline", str(args.recipe),
                        "-o", str(tmp / "corpus"), *sets], check=True, env=child_env(),
                       stdout=subprocess.DEVNULL)
        t0 = time.perf_counter()
        proc = subprocess.Popen([*cmd, "train", str(tmp / "corpus"), "-o", str(tmp / "run"),
                                 "--pipeline", str(args.recipe), "--epochs", str(args.epochs),
                                 "--set", "train.max_minutes=0", *sets],
                                env=child_env(), stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status):
            sys.exit(f"training failed (exit {os.waitstatus_to_exitcode(status)})")
        with open(tmp / "run" / "history.csv", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    print(json.dumps({
        "recipe": str(args.recipe), "sentences": args.sentences or "all", "epochs": len(rows),
        "epoch_seconds": [float(r["seconds"]) for r in rows],
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), "wall_seconds": round(wall, 1),
        "val_accuracy": float(rows[-1]["val_accuracy"]) if rows else None,
        "machine": machine()}))


if __name__ == "__main__":
    main()
