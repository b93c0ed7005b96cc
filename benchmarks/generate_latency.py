"""Wall time of `jazzgen generate`, process start to MIDI written, against importing TensorFlow.

    python benchmarks/generate_latency.py [--runs 5] [--bars 32] [--band trio] [--run-dir DIR]

Each figure is the median wall time of --runs fresh processes:
    generate_s     `jazzgen generate -o TMP.mid --bars 32 --band trio --musicxml` (the bundled
                   model unless --run-dir): the solo, the band and the lead sheet
    solo_only_s    the same with `--band none` and no lead sheet (what generate did before the band)
    import_tf_s    `python -c "import tensorflow"`, what any TensorFlow-based generator pays first
    python_s       `python -c pass`, the interpreter's own start
and `ratio` = generate_s / import_tf_s (below 1: generating a solo costs less than importing TF;
the goal for the band and lead sheet is below 0.25).
`imports_tensorflow` tells whether the generate process loaded TensorFlow at all.

Prints ONE JSON object on stdout; exits 1 with {"error": ...} when generate fails (e.g. no
bundled model yet).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from _util import ROOT, child_env, jazzgen_cmd, machine, run_child

# Runs the CLI in-process and reports whether TensorFlow got imported on the way.
_PROBE = """
import sys
from jazzgen.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    print(int("tensorflow" in sys.modules))
"""


def median_seconds(cmd: list[str], runs: int, env: dict) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        r = run_child(cmd, cwd=ROOT, env=env)
        if r["code"] != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {r['code']}: {r['stderr'].strip()[-600:]}")
        times.append(r["seconds"])
    return statistics.median(times), times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--bars", type=int, default=32)
    p.add_argument("--band", default="trio", choices=("trio", "bass", "none"))
    p.add_argument("--run-dir", default=None, help="a run directory (default: the bundled model)")
    a = p.parse_args()
    env = child_env()
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "tmp.mid")
        solo = ["generate", *([a.run_dir] if a.run_dir else []), "-o", out, "--bars", str(a.bars)]
        args = [*solo, "--band", a.band, "--musicxml"]
        try:
            gen, gen_all = median_seconds([*jazzgen_cmd(), *args], a.runs, env)
            solo_only, _ = median_seconds([*jazzgen_cmd(), *solo, "--band", "none"], a.runs, env)
            probe = run_child([sys.executable, "-c", _PROBE, *args], cwd=ROOT, env=env)
        except RuntimeError as e:
            print(json.dumps({"error": str(e)}))
            sys.exit(1)
        midi_bytes = Path(out).stat().st_size
    tf, tf_all = median_seconds([sys.executable, "-c", "import tensorflow"], a.runs, env)
    py, _ = median_seconds([sys.executable, "-c", "pass"], a.runs, env)
    print(json.dumps({
        "generate_s": round(gen, 3), "solo_only_s": round(solo_only, 3), "import_tf_s": round(tf, 3),
        "python_s": round(py, 3), "ratio": round(gen / tf, 3), "solo_only_ratio": round(solo_only / tf, 3),
        "bars": a.bars, "band": a.band, "midi_bytes": midi_bytes,
        "imports_tensorflow": probe["stdout"].strip().splitlines()[-1:] == ["1"],
        "generate_all_s": [round(t, 3) for t in gen_all],
        "import_tf_all_s": [round(t, 3) for t in tf_all],
        "machine": machine(),
    }))


if __name__ == "__main__":
    main()
