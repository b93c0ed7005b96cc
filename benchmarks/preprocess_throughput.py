"""Speed of `jazzgen preprocess`: files/s and values/s, cold and cached, 1 and 2 workers.

    python benchmarks/preprocess_throughput.py [--source data/midi/wjd] [--workers 1,2]

For each worker count, in a fresh temporary corpus directory:
    cold     first run: every file is parsed, quantized and tokenized (and cached)
    cached   the same command again: every file is a cache hit (hash + JSON read)
Rates are over the whole command's wall time (process start, imports, writing the corpus), with
the stage's own seconds (its last log line, imports excluded) beside them.
Prints ONE JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from _util import ROOT, jazzgen_cmd, machine, run_child


def one_run(source: Path, corpus: Path, workers: int) -> dict:
    r = run_child([*jazzgen_cmd(), "preprocess", str(source), "-o", str(corpus),
                   "--workers", str(workers)], cwd=ROOT)
    if r["code"] != 0:
        raise RuntimeError(f"preprocess exited {r['code']}: {r['stderr'].strip()[-800:]}")
    info = json.loads((corpus / "corpus.json").read_text())
    manifest = json.loads((corpus / "manifest.json").read_text())
    files = len(manifest["kept"]) + len(manifest["skipped"])
    stage = re.search(r"([\d.]+) s -> ", r["stdout"])
    cached = re.search(r"; (\d+) from cache", r["stdout"])
    return {"files": files, "kept": len(manifest["kept"]), "values": info["tokens"],
            "seconds": round(r["seconds"], 3),
            "files_per_s": round(files / r["seconds"], 1),
            "values_per_s": round(info["tokens"] / r["seconds"], 1),
            "stage_seconds": float(stage.group(1)) if stage else None,
            "from_cache": int(cached.group(1)) if cached else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default="data/midi/wjd")
    p.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    a = p.parse_args()
    source = (ROOT / a.source).resolve()
    if not source.is_dir() or not any(source.iterdir()):
        print(json.dumps({"error": f"{a.source}: no corpus there yet"}))
        sys.exit(1)
    result: dict = {"source": a.source}
    with tempfile.TemporaryDirectory() as tmp:
        for w in (int(x) for x in a.workers.split(",")):
            corpus = Path(tmp) / f"corpus-w{w}"
            try:
                cold = one_run(source, corpus, w)
                print(f"  workers {w} cold: {cold['seconds']} s", file=sys.stderr)
                cached = one_run(source, corpus, w)
                print(f"  workers {w} cached: {cached['seconds']} s", file=sys.stderr)
            except RuntimeError as e:
                print(json.dumps({**result, "error": str(e)}))
                sys.exit(1)
            result[f"workers_{w}"] = {"cold": cold, "cached": cached}
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
