"""What a chord-tone bias at decoding (`generate.chord_tone_bias`) does to a run's solos.

    python benchmarks/chord_tone_bias.py [--corpus corpora/wjd] [--run jazzgen/assets/default_model]
                                         [--biases 0 0.1 0.2 0.3 0.5] [--seeds 0 1 2]
                                         [--training-draws 0]

For every bias and seed, the run plays over each of its held-out 4/4 pieces' changes as
`jazzgen evaluate` does (`listening.heldout_pairs`, the run's articulation and dynamics) and the
two-sample test compares the solos with the players' (`listening.listening_test`). The corpus
must be the one the run was trained on (its held-out pieces are named by index).

`--training-draws N` plays instead over N draws of as many of its *training* pieces (in their
own key; draw d uses seed d), each against its own players: whether the model plays as the
players it learned from, apart from how one set of held-out pieces happens to differ from them.

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


def with_bias(run, bias: float):
    """The run as if its recipe's [generate] said chord_tone_bias = bias."""
    return replace(run, config=replace(run.config, generate=replace(run.config.generate, chord_tone_bias=bias)))


def played_test(run, corpus, seed: int, articulation, dynamics, pieces=None) -> dict:
    """`listening_test` of the run's solos over `pieces` (None: its held-out ones) against the
    players', with how many solos were paired ("solos")."""
    generated, human = heldout_pairs(run, corpus, seed=seed, articulation=articulation, dynamics=dynamics,
                                     pieces=pieces)
    return {**listening_test(generated, human), "solos": len(human)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT / "corpora" / "wjd"))
    parser.add_argument("--run", default=str(ROOT / "jazzgen" / "assets" / "default_model"))
    parser.add_argument("--biases", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--training-draws", type=int, default=0,
                        help="play over this many draws of training pieces instead of the held-out ones")
    args = parser.parse_args()
    corpus, run = read_corpus(args.corpus), open_run(args.run, warn=lambda m: None)
    if corpus.info["hash"] != run.info.get("corpus_hash"):
        sys.exit(f"{args.corpus}: not the corpus {args.run} was trained on (its ids differ)")
    articulation, dynamics = load_articulation(run), load_dynamics(run)
    if args.training_draws:
        return training_draws(args, corpus, run, articulation, dynamics)
    out: dict = {"run": args.run, "players": None, "biases": {}}
    for bias in args.biases:
        rows = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            test = played_test(with_bias(run, bias), corpus, seed, articulation, dynamics)
            if out["players"] is None:
                out["players"] = {k: test["human_figures"][k] for k in FIGURES}
            rows.append({"seed": seed, "auc": test["auc"], **{k: test["generated_figures"][k] for k in FIGURES}})
            print(f"bias {bias} seed {seed}: auc {test['auc']:.3f} chord tones "
                  f"{rows[-1]['chord_tones']:.3f} tied {rows[-1]['tied_repeats']:.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        mean = {k: float(np.mean([r[k] for r in rows])) for k in ("auc",) + FIGURES}
        out["biases"][str(bias)] = {"seeds": rows, "mean": mean}
    print(json.dumps(out, indent=1))


def training_draws(args, corpus, run, articulation, dynamics) -> None:
    """The figures over draws of training pieces, as many as the run holds out, each draw
    against its own players; prints ONE JSON object."""
    held_out = set(run.info.get("val_pieces", []))
    training = [i for i, p in enumerate(corpus.pieces) if i not in held_out and not p.get("transpose")]
    size = len([i for i in held_out if not corpus.pieces[i].get("transpose")])
    out: dict = {"run": args.run, "pieces_per_draw": size, "biases": {}}
    for bias in args.biases:
        rows = []
        for draw in range(args.training_draws):
            pieces = sorted(np.random.default_rng(draw).choice(training, size, replace=False).tolist())
            for seed in args.seeds:
                test = played_test(with_bias(run, bias), corpus, seed, articulation, dynamics, pieces)
                rows.append({"draw": draw, "seed": seed, "solos": test["solos"], "auc": test["auc"],
                             **{f"players_{k}": test["human_figures"][k] for k in FIGURES},
                             **{k: test["generated_figures"][k] for k in FIGURES}})
                print(f"bias {bias} draw {draw} seed {seed}: tied {rows[-1]['tied_repeats']:.3f} "
                      f"(players {rows[-1]['players_tied_repeats']:.3f})", file=sys.stderr)
        keys = ("auc",) + FIGURES + tuple(f"players_{k}" for k in FIGURES)
        out["biases"][str(bias)] = {"rows": rows, "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
