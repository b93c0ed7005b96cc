"""What a chord-tone bias at decoding (`generate.chord_tone_bias`) does to a run's solos.

    python benchmarks/chord_tone_bias.py [--corpus corpora/wjd] [--run jazzgen/assets/default_model]
                                         [--biases 0 0.1 0.2 0.3 0.5] [--seeds 0 1 2]

For every bias and seed, the run plays over each of its held-out 4/4 pieces' changes as
`jazzgen evaluate` does (`listening.heldout_pairs`, the run's articulation and dynamics) and the
two-sample test compares the solos with the players' (`listening.listening_test`). The corpus
must be the one the run was trained on (its held-out pieces are named by index).

Prints ONE JSON object: the players' figures, and per bias and seed the AUC and the generated
figures (chord tones, chord tones on beats 1 and 3, repeated pitches, tied repeats, 4-bar range,
sounding share), with the mean over seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import numpy as np
from _util import ROOT

sys.path.insert(0, str(ROOT))

from jazzgen.core.corpus import read_corpus  # noqa: E402
from jazzgen.core.rundir import open_run  # noqa: E402
from jazzgen.music.listening import heldout_pairs, listening_test  # noqa: E402
from jazzgen.music.solos import load_articulation, load_dynamics  # noqa: E402

FIGURES = ("chord_tones", "chord_tones_beats_1_3", "repeated_pitches", "tied_repeats", "range_4bars",
           "sounding_share")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT / "corpora" / "wjd"))
    parser.add_argument("--run", default=str(ROOT / "jazzgen" / "assets" / "default_model"))
    parser.add_argument("--biases", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    corpus, run = read_corpus(args.corpus), open_run(args.run, warn=lambda m: None)
    if corpus.info["hash"] != run.info.get("corpus_hash"):
        sys.exit(f"{args.corpus}: not the corpus {args.run} was trained on (its ids differ)")
    articulation, dynamics = load_articulation(run), load_dynamics(run)
    out: dict = {"run": args.run, "players": None, "biases": {}}
    for bias in args.biases:
        biased = replace(run, config=replace(run.config, generate=replace(run.config.generate,
                                                                          chord_tone_bias=bias)))
        rows = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            generated, human = heldout_pairs(biased, corpus, seed=seed, articulation=articulation,
                                             dynamics=dynamics)
            test = listening_test(generated, human)
            if out["players"] is None:
                out["players"] = {k: test["human_figures"][k] for k in FIGURES}
            rows.append({"seed": seed, "auc": test["auc"], **{k: test["generated_figures"][k] for k in FIGURES}})
            print(f"bias {bias} seed {seed}: auc {test['auc']:.3f} chord tones "
                  f"{rows[-1]['chord_tones']:.3f} tied {rows[-1]['tied_repeats']:.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        mean = {k: float(np.mean([r[k] for r in rows])) for k in ("auc",) + FIGURES}
        out["biases"][str(bias)] = {"seeds": rows, "mean": mean}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
