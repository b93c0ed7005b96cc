"""How well each way of giving notes a velocity predicts the players' own, on a run's held-out pieces.

    python benchmarks/dynamics.py [--corpus corpora/wjd] [--run jazzgen/assets/default_model]

The corpus must be preprocessed from files that carry the players' velocities (the bundled
`data/midi/wjd`, imported with the WJD release MIDI) and have the run's ids (the run's split is
used: its training pieces fit the model, its held-out pieces measure it). For every held-out
piece's notes (quantized as the network sees them), the target is the velocity relative to the
solo's mean (players differ in overall level); each way predicts it relative to its own mean:

- constant: every note alike (the decoders' velocity 90), i.e. 0;
- shaped: `instruments.shape_dynamics`, the phrase arc and accents generation used so far;
- learned: the additive model of `music.dynamics` fitted on the training pieces.

Prints ONE JSON object: per way the mean absolute error and R^2 over the held-out notes.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from _util import ROOT

sys.path.insert(0, str(ROOT))

from jazzgen.core.corpus import read_corpus  # noqa: E402
from jazzgen.core.rundir import open_run  # noqa: E402
from jazzgen.music.dynamics import predict_velocity  # noqa: E402
from jazzgen.music.instruments import shape_dynamics  # noqa: E402
from jazzgen.music.pipeline import read_score  # noqa: E402
from jazzgen.music.tokenizers import tokenizer_from_config  # noqa: E402
from jazzgen.tasks.jazz import corpus_dynamics  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT / "corpora" / "wjd"))
    parser.add_argument("--run", default=str(ROOT / "jazzgen" / "assets" / "default_model"))
    args = parser.parse_args()
    corpus, run = read_corpus(args.corpus), open_run(args.run)
    if corpus.info["hash"] != run.info.get("corpus_hash"):
        sys.exit(f"{args.corpus}: not the corpus {args.run} was trained on (its ids differ)")
    table = corpus_dynamics(corpus, run.info["train_pieces"], run.info.get("val_pieces", []))
    if table is None:
        sys.exit(f"{args.corpus}: no piece has velocities that vary")
    tokenizer = tokenizer_from_config(corpus.info["tokenizer"])
    target, shaped, learned = [], [], []
    for i in run.info.get("val_pieces", []):
        piece = corpus.pieces[i]
        if "dynamics" not in piece:
            continue
        score, _ = tokenizer.quantize_score(read_score(ROOT / piece["source"]))
        v = np.array([n.velocity for n in score.notes], float)
        s = np.array([n.velocity for n in shape_dynamics(score.notes, score.beats_per_bar)], float)
        m = predict_velocity(score, table)
        target.append(v - v.mean())
        shaped.append(s - s.mean())
        learned.append(m - m.mean())
    y = np.concatenate(target)

    def figures(prediction: np.ndarray) -> dict:
        err = y - prediction
        return {"mae": round(float(np.abs(err).mean()), 3), "r2": round(1 - float(np.mean(err**2) / np.mean(y**2)), 4)}

    print(json.dumps({
        "corpus": args.corpus, "run": args.run, "heldout_pieces": len(target), "heldout_notes": int(len(y)),
        "training_pieces": table["pieces"], "training_notes": table["notes"],
        "target": "velocity - the solo's mean velocity",
        "constant": figures(np.zeros_like(y)),
        "shaped": figures(np.concatenate(shaped)),
        "learned": figures(np.concatenate(learned)),
        "learned_level": table["level"], "phrase_sd": table["phrase_sd"], "note_sd": table["note_sd"],
    }, indent=1))


if __name__ == "__main__":
    main()
