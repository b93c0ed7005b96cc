"""Held-out perplexity against corpus size: n-gram, trained from scratch, fine-tuned from the bundled model.

    python benchmarks/learning_curve.py [--source ../shared/data/openewld] [--sizes 10,30,100,all]
                                        [--test 50] [--work DIR] [--png curve.png] [--epochs N]

1. The lead sheets are preprocessed once (`jazzgen preprocess`, cached in WORK/corpus); default
   source: the full OpenEWLD set beside the project (`../shared/data/openewld`) when present,
   else the sample in `data/leadsheets`.
2. A seeded permutation of the pieces puts the first --test pieces in ONE fixed held-out set;
   each subset of --sizes training pieces is a prefix of the rest, so larger subsets contain
   the smaller ones. Every subset corpus keeps the whole set's vocabulary, so the three models
   are scored over the same values (a value no subset piece holds is not `<unk>`).
3. For each subset, two runs in fresh processes, timed start to finish (TensorFlow's import
   included): `jazzgen train SUBSET -o RUN` (default settings: the small-data defaults choose
   the model size, dropout, learning rate and stopping) and `jazzgen train SUBSET -o RUN --from
   default`.
4. On the held-out pieces, whole pieces from [<bos>] (as `jazzgen evaluate`): the 3-gram
   Kneser-Ney model fitted on the subset's pieces, each run (numpy engine), and the bundled
   model before fine-tuning (zero-shot, grown to the fine-tuned run's vocabulary).

Prints ONE JSON object; with --png also draws perplexity against training pieces.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from _util import ROOT, child_env, jazzgen_cmd, machine, run_child

sys.path.insert(0, str(ROOT))

from jazzgen.core.corpus import Corpus, read_corpus, write_corpus  # noqa: E402
from jazzgen.core.ngram import NGramModel  # noqa: E402
from jazzgen.core.vocab import BOS, EOS  # noqa: E402

NGRAM_ORDER = 3


def default_source() -> Path:
    """The full OpenEWLD set where it is usually put, else the sample the project ships."""
    for full in (ROOT.parent / "shared" / "data" / "openewld", ROOT / "data" / "leadsheets" / "openewld"):
        if full.is_dir():
            return full
    return ROOT / "data" / "leadsheets"


def checked(r: dict, what: str) -> dict:
    if r["code"] != 0:
        sys.exit(f"{what} failed (exit {r['code']}): {(r['stderr'] or r['stdout'])[-2000:]}")
    return r


def subset_corpus(full: Corpus, indices, path: Path) -> Corpus:
    """A corpus of the pieces `indices` of `full`, keeping `full`'s vocabulary."""
    tokens = [full.vocab.decode(full.piece_ids(int(i))) for i in indices]
    write_corpus(path, full.task, full.info["tokenizer"], full.vocab, tokens,
                 [full.pieces[int(i)] for i in indices], {"kept": [], "skipped": []})
    return read_corpus(path)


def score_run(run_dir: Path, test: Corpus) -> dict:
    """Held-out NLL of a run (and of its source, zero-shot, when fine-tuned) on `test`'s pieces."""
    from jazzgen.core.engine import NumpyEngine
    from jazzgen.core.finetune import reindex_corpus, source_engine
    from jazzgen.core.rundir import open_run
    from jazzgen.core.scoring import mean_nll as heldout_nll
    from jazzgen.music.conditioning import for_scoring

    run = open_run(run_dir, warn=lambda m: None)
    test = reindex_corpus(test, run.vocab)
    pieces = [test.piece_ids(i) for i in range(len(test))]
    bos, eos = run.vocab.id(BOS), run.vocab.id(EOS)
    records = [test.pieces[i] for i in range(len(test))]  # a conditioned model: beat and harmony
    engine = for_scoring(NumpyEngine.from_export(run.export_path), run.vocab.tokens, pieces, records, bos, eos,
                         run.task["tokenizer"])
    loss, _, _ = heldout_nll(engine, pieces, bos, eos)
    out = {"perplexity": round(math.exp(loss), 2), "best_epoch": run.info.get("best_epoch"),
           "epochs": run.info.get("epochs_done"), "settings": {
               k: run.config.model.to_dict()[k] for k in ("units", "embedding_dim", "dropout")}
           | {"learning_rate": run.config.train.learning_rate}}
    problems: list[str] = []
    engine = source_engine(run, problems)
    if engine is not None:
        engine = for_scoring(engine, run.vocab.tokens, pieces, records, bos, eos,
                         run.task["tokenizer"])
        out["zero_shot_perplexity"] = round(math.exp(heldout_nll(engine, pieces, bos, eos)[0]), 2)
    return out


def ngram_perplexity(train: Corpus, test: Corpus) -> float:
    bos, eos = train.vocab.id(BOS), train.vocab.id(EOS)
    model = NGramModel(NGRAM_ORDER, len(train.vocab), bos_id=bos).fit(
        np.append(train.piece_ids(i), eos) for i in range(len(train)))
    nll = model.mean_nll([np.append(test.piece_ids(i), eos) for i in range(len(test))])
    return round(math.exp(nll), 2)


def draw(rows: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = [r["pieces"] for r in rows]
    for key, label in (("ngram_perplexity", f"{NGRAM_ORDER}-gram Kneser-Ney"),
                       ("scratch_perplexity", "LSTM from scratch"),
                       ("finetune_perplexity", "fine-tuned bundled model"),
                       ("zero_shot_perplexity", "bundled model, zero-shot")):
        ax.plot(x, [r.get(key) for r in rows], marker="o", label=label,
                linestyle="--" if key == "zero_shot_perplexity" else "-")
    ax.set_xscale("log")
    ax.set_xlabel("training pieces (lead sheets)")
    ax.set_ylabel("held-out perplexity per value")
    ax.set_title("OpenEWLD: one fixed held-out set")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, default=None, help="lead sheets (default: OpenEWLD)")
    ap.add_argument("--sizes", default="10,30,100,all", help="training pieces per subset")
    ap.add_argument("--test", type=int, default=50, help="held-out pieces (one fixed set)")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "learning_curve")
    ap.add_argument("--png", type=Path, default=None, help="draw the curve here")
    ap.add_argument("--epochs", type=int, default=None, help="cap epochs (tests); default: to early stopping")
    ap.add_argument("--seed", type=int, default=0, help="seed of the held-out choice")
    args = ap.parse_args()
    source = args.source or default_source()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    cmd = jazzgen_cmd()
    pre = checked(run_child([*cmd, "preprocess", str(source), "-o", str(work / "corpus"), "--workers", "2"],
                            cwd=ROOT, env=child_env()), "preprocess")
    full = read_corpus(work / "corpus")
    order = np.random.default_rng(args.seed).permutation(len(full))
    if len(full) <= args.test:
        sys.exit(f"{source}: {len(full)} pieces, want more than --test {args.test}")
    test = subset_corpus(full, order[: args.test], work / "test")
    pool = order[args.test:]
    sizes = sorted({len(pool) if s == "all" else min(int(s), len(pool)) for s in args.sizes.split(",")})
    extra = ["--epochs", str(args.epochs)] if args.epochs else []
    rows = []
    for n in sizes:
        subset = subset_corpus(full, pool[:n], work / f"train-{n}")
        row = {"pieces": n, "values": int(subset.info["tokens"]),
               "ngram_perplexity": ngram_perplexity(subset, test)}
        for name, more in (("scratch", []), ("finetune", ["--from", "default"])):
            run_dir = work / f"{name}-{n}"
            if run_dir.exists():
                import shutil

                shutil.rmtree(run_dir)
            r = checked(run_child([*cmd, "train", str(subset.path), "-o", str(run_dir), *more, *extra],
                                  cwd=ROOT, env=child_env()), f"train {name} {n}")
            scored = score_run(run_dir, test)
            row[f"{name}_seconds"] = round(r["seconds"], 1)
            row[f"{name}_peak_rss_mib"] = r["peak_rss_mib"]
            row[f"{name}_perplexity"] = scored.pop("perplexity")
            if "zero_shot_perplexity" in scored:
                row["zero_shot_perplexity"] = scored.pop("zero_shot_perplexity")
            row[f"{name}_run"] = scored
        row["finetune_vs_ngram"] = round(row["finetune_perplexity"] / row["ngram_perplexity"] - 1, 3)
        row["scratch_vs_ngram"] = round(row["scratch_perplexity"] / row["ngram_perplexity"] - 1, 3)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    if args.png:
        draw(rows, args.png)
    print(json.dumps({"source": str(source), "pieces": len(full), "test_pieces": len(test),
                      "test_values": int(test.info["tokens"]), "vocabulary": len(full.vocab),
                      "preprocess_seconds": round(pre["seconds"], 1), "sizes": rows,
                      "png": str(args.png) if args.png else None, "machine": machine()}))


if __name__ == "__main__":
    main()
