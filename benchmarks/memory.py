"""Peak resident memory of `jazzgen preprocess` and `jazzgen train` (1 epoch), 1x and 4x corpus.

    python benchmarks/memory.py [--source data/midi/wjd] [--copies 4] [--set train.epochs=1 ...]

For each corpus size, in a temporary folder:
    preprocess   `jazzgen preprocess SRC -o CORPUS --workers 1`
    train        `jazzgen train CORPUS -o RUN --epochs 1` (default model and data settings)
The 4x corpus is --copies folders of symlinks to the source files. Identical files hit
preprocess's per-content cache after the first copy, so its parsing work does not grow 4x, but
every copy's values are still held, windowed and trained on: the memory of the tokens, the corpus
arrays and the training windows does.

Peak RSS is `ru_maxrss` of the child process (`wait4`), in MiB. Also reported: the memory of a
bare `python -c "import tensorflow"` (the floor under `train`) and of `import jazzgen.cli`.
Prints ONE JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _util import ROOT, jazzgen_cmd, machine, run_child


def linked_copies(source: Path, dest: Path, copies: int) -> int:
    """dest/copy{i}/NAME -> source/NAME for every file under source; returns files linked."""
    files = [f for f in sorted(source.rglob("*")) if f.is_file()]
    for i in range(copies):
        for f in files:
            link = dest / f"copy{i}" / f.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(f.resolve())
    return len(files) * copies


def checked(r: dict, what: str) -> dict:
    if r["code"] != 0:
        raise RuntimeError(f"{what} exited {r['code']}: {r['stderr'].strip()[-800:]}")
    return r


def measure(source: Path, tmp: Path, label: str, sets: list[str]) -> dict:
    corpus, run = tmp / f"corpus-{label}", tmp / f"run-{label}"
    pre = checked(run_child([*jazzgen_cmd(), "preprocess", str(source), "-o", str(corpus),
                             "--workers", "1"], cwd=ROOT), f"preprocess ({label})")
    info = json.loads((corpus / "corpus.json").read_text())
    set_args = [x for s in sets for x in ("--set", s)]
    tr = checked(run_child([*jazzgen_cmd(), "train", str(corpus), "-o", str(run), "--epochs", "1",
                            *set_args], cwd=ROOT), f"train ({label})")
    windows = next((line for line in tr["stdout"].splitlines() if "training windows" in line), "")
    print(f"  {label}: preprocess {pre['peak_rss_mib']} MiB, train {tr['peak_rss_mib']} MiB",
          file=sys.stderr)
    return {"pieces": info["pieces"], "values": info["tokens"], "vocab_size": info["vocab_size"],
            "preprocess_peak_mib": pre["peak_rss_mib"], "preprocess_s": round(pre["seconds"], 2),
            "train_1_epoch_peak_mib": tr["peak_rss_mib"],
            "train_1_epoch_s": round(tr["seconds"], 2),
            "train_log": windows.strip()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default="data/midi/wjd", help="the corpus folder to read")
    p.add_argument("--copies", type=int, default=4, help="size of the repeated corpus")
    p.add_argument("--set", dest="sets", action="append", default=[],
                   help="settings for train, as `jazzgen train --set`")
    a = p.parse_args()
    source = (ROOT / a.source).resolve()
    if not source.is_dir() or not any(source.iterdir()):
        print(json.dumps({"error": f"{a.source}: no corpus there yet"}))
        sys.exit(1)
    floor_tf = run_child([sys.executable, "-c", "import tensorflow"], cwd=ROOT)
    floor_cli = run_child([sys.executable, "-c", "import jazzgen.cli"], cwd=ROOT)
    result: dict = {"import_tensorflow_peak_mib": floor_tf["peak_rss_mib"],
                    "import_jazzgen_cli_peak_mib": floor_cli["peak_rss_mib"]}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        try:
            result["corpus_1x"] = measure(source, tmp, "1x", a.sets)
            many = tmp / f"src-{a.copies}x"
            result["files_linked"] = linked_copies(source, many, a.copies)
            result[f"corpus_{a.copies}x"] = measure(many, tmp, f"{a.copies}x", a.sets)
        except RuntimeError as e:
            print(json.dumps({**result, "error": str(e)}))
            sys.exit(1)
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
