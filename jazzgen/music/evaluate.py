"""Evaluate a jazz run: held-out likelihood beside an n-gram baseline, and the music it plays.

Two parts, each skipped with a stated reason (in `result["problems"]`) when it cannot run:

1. Held-out values. The run's validation pieces (run.json's "val_pieces" of the corpus at
   run.json's "corpus", checked against "corpus_hash") are framed as [<bos>, ids..., <eos>] and
   stepped through the TensorFlow-free numpy engine all at once: mean negative log-likelihood
   per predicted value in nats (`loss`), `perplexity` = exp(loss) and top-1 `accuracy`. Beside
   them an interpolated Kneser-Ney n-gram model fitted on the training pieces is scored on the
   very same values (`baseline_*`): the network must beat it to earn its training time.
2. Samples against the training corpus. Sample MIDI files (or solos generated here over the
   run's stored changes) are read back like any input, so chords come from their markers; the
   training pieces are read from their source files and quantized as the tokenizer saw them.
   Both get the statistics of `jazzgen.music.stats`, and each sample its longest run of
   intervals shared with a training piece (originality).

Published figures for human Weimar Jazz Database solos are kept in `REFERENCE`, with sources.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from jazzgen.core.corpus import Corpus, read_corpus
from jazzgen.core.engine import NumpyEngine
from jazzgen.core.ngram import NGramModel
from jazzgen.core.rundir import Run
from jazzgen.core.scoring import mean_nll
from jazzgen.core.vocab import BOS, EOS
from jazzgen.errors import InputError, JazzgenError
from jazzgen.music import stats
from jazzgen.music.score import Score

BASELINE_ORDER = 3  # the n-gram baseline reported as `baseline_*`; a bigram is reported beside it
COPY_THRESHOLD = 20  # intervals shared in a row with one training piece from which a sample copies

JAZZ_TRANSFORMER = (
    "Wu & Yang, 'The Jazz Transformer on the Front Line', ISMIR 2020 "
    "(https://arxiv.org/abs/2008.01307; MusDr code), real WJazzD pieces"
)
MINGUS = (
    "Madaghiele, Lisena & Troncy, 'MINGUS: Melodic Improvisation Neural Generator Using "
    "Seq2Seq', ISMIR 2021 (https://github.com/vincenzomadaghiele/MINGUS), human WJazzD solos"
)
# Published values of our statistics for human solos of the Weimar Jazz Database.
REFERENCE: dict[str, dict] = {
    "h1": {"value": 1.94, "source": JAZZ_TRANSFORMER},
    "h4": {"value": 2.89, "source": JAZZ_TRANSFORMER},
    "grooving_similarity": {"value": 0.83, "source": JAZZ_TRANSFORMER},
    "chord_tone_ratio": {"value": 0.49, "source": MINGUS},
    "chord_scale_ratio": {"value": 0.72, "source": MINGUS},
}


def evaluate_jazz(
    run: Run,
    samples: Sequence[str | Path] = (),
    *,
    corpus_dir: str | Path | None = None,
    n_generate: int = 8,
    seed: int = 0,
    log: Callable[[str], None] = lambda message: None,
) -> dict:
    """Score a jazz run on its held-out pieces and compare its solos with its training corpus.

    The held-out loss steps *whole* pieces from a zero state, whereas training's `val_loss`
    averages over windows of `data.seq_len` values that each start from a zero state, so the
    two differ a little (whole pieces give the network more context; on the WJD run tried,
    5.77 nats whole vs 5.80 windowed).

    The training pieces are quantized by the run's tokenizer before their statistics are taken,
    as the network saw them and as generated solos come out (on the WJD this moves GS from
    0.83 to 0.86 and the other statistics by 1-2%).

    Args:
        run: an opened jazz run (`jazzgen.core.rundir.open_run`).
        samples: MIDI files to judge; none = generate `n_generate` solos over the run's stored
            changes (each with seed `seed + i`, the run's generate settings, numpy engine).
        corpus_dir: the corpus the run was trained on, when it has moved from run.json's path.
        n_generate: solos to generate when no `samples` are given.
        seed: first generation seed.
        log: called with a line before each slow step (reading a few hundred training files
            takes about a minute).

    Returns:
        A dict; figures that could not be computed are None, and `problems` says why:
        `loss` (nats per value), `perplexity`, `accuracy`, `val_pieces`, `val_values`,
        `train_val_loss` (training's best windowed val_loss), `baseline_order`,
        `baseline_loss`, `baseline_perplexity`, `bigram_loss`, `bigram_perplexity`,
        `sample_files`, `samples_generated`, `samples` {statistic: mean over samples},
        `corpus_pieces`, `corpus` {statistic: mean over training pieces}, `sample_bars` and
        `corpus_bars` (mean lengths: counts and ranges grow with length), `originality`
        {longest_run_max, longest_run_mean, copies, threshold, per_sample}, `reference`
        (`REFERENCE`), `corpus_path`, `problems` (list of one-line strings). A fine-tuned run
        (`train --from`) adds `source` and the model it started from on the same held-out
        values: `zero_shot_loss`, `zero_shot_perplexity`, `zero_shot_accuracy`.
    """
    NumpyEngine.from_export(run.export_path)  # damaged weights: an error naming them, not a note
    problems: list[str] = []
    result: dict = {"run": str(run.path), "problems": problems}
    corpus = _training_corpus(run, corpus_dir, problems)
    result["corpus_path"] = str(corpus.path) if corpus else None
    if corpus is not None:
        log(f"scoring {len(own_key(corpus, run.info.get('val_pieces', [])))} held-out pieces")
    result.update(_heldout(run, corpus, problems))

    if not samples and n_generate > 0:
        log(f"generating {n_generate} solos")
    sample_scores, result["sample_files"], result["samples_generated"] = _sample_scores(
        run, samples, n_generate, seed, problems
    )
    result["samples"] = _clean(stats.corpus_stats(sample_scores)) if sample_scores else None
    result["sample_bars"] = _mean_bars(sample_scores)

    if corpus is not None:
        log(f"reading {len(own_key(corpus, run.info.get('train_pieces', [])))} training pieces from their sources")
    training = _training_scores(run, corpus, problems) if corpus else []
    result["corpus_pieces"] = len(training)
    result["corpus"] = _clean(stats.corpus_stats(training)) if training else None
    result["corpus_bars"] = _mean_bars(training)
    result["originality"] = _originality(sample_scores, training) if training else None
    result["reference"] = REFERENCE
    return result


# ---- held-out likelihood --------------------------------------------------------------------

def own_key(corpus: Corpus, indices) -> list[int]:
    """The pieces of `indices` as written: a corpus in 12 keys (events, preprocess.all_keys) also
    holds each song transposed, and a song is scored once, not twelve times."""
    return [int(i) for i in indices if not corpus.pieces[int(i)].get("transpose")]


def _training_corpus(run: Run, corpus_dir: str | Path | None, problems: list[str]) -> Corpus | None:
    """The corpus the run was trained on, or None (with the reason) when it is not at hand."""
    where = corpus_dir or run.info.get("corpus")
    if not where:
        problems.append("run.json names no corpus: held-out and corpus figures skipped")
        return None
    try:
        corpus = read_corpus(where)
    except JazzgenError as e:
        problems.append(f"corpus not readable ({e}): held-out and corpus figures skipped; "
                        "pass the corpus directory if it has moved")
        return None
    if corpus.hash != run.info.get("corpus_hash"):
        problems.append(f"{corpus.path}: corpus hash {corpus.hash} differs from the run's "
                        f"{run.info.get('corpus_hash')} (re-preprocessed, or another corpus): "
                        "held-out and corpus figures skipped")
        return None
    return corpus


def _heldout(run: Run, corpus: Corpus | None, problems: list[str]) -> dict:
    """Model and n-gram figures on the validation pieces (None where they cannot be computed)."""
    out = dict.fromkeys(("loss", "perplexity", "accuracy", "baseline_loss", "baseline_perplexity",
                         "bigram_loss", "bigram_perplexity"))
    out.update(val_pieces=0, val_values=0, baseline_order=BASELINE_ORDER,
               train_val_loss=run.info.get("best_val_loss"))
    if corpus is None:
        return out
    if corpus.vocab != run.vocab:  # a fine-tuned run: its vocabulary holds the corpus's and more
        from jazzgen.core.finetune import reindex_corpus

        corpus = reindex_corpus(corpus, run.vocab)
    val_index = own_key(corpus, run.info.get("val_pieces", []))
    val = [corpus.piece_ids(i) for i in val_index]
    # the n-gram sees all keys, as the network did
    train = [corpus.piece_ids(i) for i in run.info.get("train_pieces", [])]
    if not val:
        problems.append("the run holds out no validation pieces (data.val_fraction = 0): "
                        "held-out figures skipped")
        return out
    bos, eos = run.vocab.id(BOS), run.vocab.id(EOS)
    from jazzgen.music.conditioning import for_scoring  # conditioned: each piece's beat and harmony

    records = [corpus.pieces[i] for i in val_index]
    engine = for_scoring(NumpyEngine.from_export(run.export_path), run.vocab.tokens, val, records, bos, eos,
                         run.task["tokenizer"])
    loss, accuracy, count = mean_nll(engine, val, bos, eos)
    out.update(loss=loss, perplexity=math.exp(loss), accuracy=accuracy, val_pieces=len(val),
               val_values=count)
    if run.info.get("source"):  # fine-tuned: the source model as it was, on the same pieces
        from jazzgen.core.finetune import source_engine

        engine = source_engine(run, problems)
        if engine:
            engine = for_scoring(engine, run.vocab.tokens, val, records, bos, eos,
                         run.task["tokenizer"])
        zero = mean_nll(engine, val, bos, eos) if engine else (None, None, 0)
        out.update(source=run.info["source"]["spec"], zero_shot_loss=zero[0], zero_shot_accuracy=zero[1],
                   zero_shot_perplexity=math.exp(zero[0]) if engine else None)
    targets = [np.append(p, eos) for p in val]  # the values the network predicts, <eos> included
    for order, name in ((BASELINE_ORDER, "baseline"), (2, "bigram")):
        ngram = NGramModel(order, len(run.vocab), bos_id=bos).fit(np.append(p, eos) for p in train)
        nll = ngram.mean_nll(targets)
        out.update({f"{name}_loss": nll, f"{name}_perplexity": math.exp(nll)})
    return out


# ---- samples and the training corpus --------------------------------------------------------

def read_solo(path: str | Path) -> Score:
    """A MIDI file as a score, as any input is read (the chords from its markers if it has them)."""
    from jazzgen.music.midi_io import read_midi
    from jazzgen.music.tracks import score_from_midi

    return score_from_midi(read_midi(path), path)


def _sample_scores(run: Run, samples: Sequence[str | Path], n_generate: int, seed: int,
                   problems: list[str]) -> tuple[list[Score], list[str], bool]:
    """(scores, file names, generated?) of the given samples, or of solos generated here."""
    if samples:
        scores, names = [], []
        for path in samples:
            try:
                scores.append(read_solo(path))
                names.append(str(path))
            except InputError as e:
                problems.append(f"sample skipped: {e}")
        return scores, names, False
    if n_generate <= 0:
        return [], [], False
    from jazzgen.music.generate import generate_solos

    g = replace(run.config.generate, count=1, backend="numpy")
    with tempfile.TemporaryDirectory(prefix="jazzgen-evaluate-") as tmp:
        try:
            paths = [generate_solos(run, Path(tmp) / f"sample-{i + 1}.mid",
                                    replace(g, seed=seed + i), log=lambda message: None)[0]
                     for i in range(n_generate)]
        except JazzgenError as e:
            problems.append(f"no samples generated ({e}): sample figures skipped")
            return [], [], True
        return ([read_solo(p) for p in paths],
                [f"generated, seed {seed + i}" for i in range(n_generate)], True)


def _training_scores(run: Run, corpus: Corpus, problems: list[str]) -> list[Score]:
    """The training pieces read from their source files, quantized as the tokenizer saw them."""
    from jazzgen.music.pipeline import read_score
    from jazzgen.music.tokenizers import tokenizer_from_config

    tokenizer = tokenizer_from_config(run.task["tokenizer"])
    p = run.config.preprocess
    scores, missing = [], []
    for i in own_key(corpus, run.info.get("train_pieces", [])):  # a source file holds its own key
        source = Path(corpus.pieces[i]["source"])
        try:
            score = read_score(source, p.melody_track, p.max_file_mb, p.max_notes)
        except InputError as e:
            missing.append(f"{e}")
            continue
        scores.append(tokenizer.quantize_score(score)[0])
    if missing:
        problems.append(f"{len(missing)} training source file(s) could not be read, corpus "
                        f"figures use the other {len(scores)} (first: {missing[0]})")
    return scores


def _originality(samples: list[Score], training: list[Score]) -> dict | None:
    """Longest interval runs shared with a training piece, and how many samples copy one."""
    if not samples:
        return None
    index = stats.IntervalIndex(training)
    found = [stats.originality(s, index, COPY_THRESHOLD) for s in samples]
    runs = [o.longest_run for o in found]
    return {"longest_run_max": max(runs), "longest_run_mean": float(np.mean(runs)),
            "copies": sum(o.copied for o in found), "threshold": COPY_THRESHOLD,
            "per_sample": runs}


def _mean_bars(scores: list[Score]) -> float | None:
    """Mean length in bars (None without scores)."""
    if not scores:
        return None
    return float(np.mean([math.ceil(s.end_beat / s.beats_per_bar - 1e-9) for s in scores]))


def _clean(values: dict[str, float]) -> dict[str, float | None]:
    """NaN (undefined) -> None, so the result is plain JSON."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


# ---- report ---------------------------------------------------------------------------------

def _fmt(value, percent: bool = False) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{100 * value:.1f}%"
    return f"{value:.0f}" if isinstance(value, int) else f"{value:.3f}"


_PERCENT_STATS = ("scale_consistency", "repeated_4gram_rate", "chord_tone_ratio",
                  "chord_scale_ratio")


def format_report(result: dict) -> str:
    """A readable report of `evaluate_jazz`'s result: likelihoods, then samples vs corpus vs
    published human figures side by side, then originality and any problems."""
    lines = [f"run: {result['run']}"]
    if result.get("loss") is not None:
        ngram = f"{result['baseline_order']}-gram Kneser-Ney"
        lines += [
            f"held-out: {result['val_pieces']} pieces, {result['val_values']} values, whole "
            f"pieces from [<bos>] (training's val_loss uses windows: "
            f"{_fmt(result.get('train_val_loss'))})",
            f"  {'model':<22}{'loss (nats)':>12}{'perplexity':>12}{'accuracy':>10}",
            f"  {'network (numpy)':<22}{_fmt(result['loss']):>12}{_fmt(result['perplexity']):>12}"
            f"{_fmt(result['accuracy'], True):>10}",
            *([f"  {'source, zero-shot':<22}{_fmt(result['zero_shot_loss']):>12}"
               f"{_fmt(result['zero_shot_perplexity']):>12}{_fmt(result['zero_shot_accuracy'], True):>10}"
               f"  ({result['source']})"] if result.get("source") else []),
            f"  {ngram:<22}"
            f"{_fmt(result['baseline_loss']):>12}{_fmt(result['baseline_perplexity']):>12}",
            f"  {'2-gram Kneser-Ney':<22}{_fmt(result['bigram_loss']):>12}"
            f"{_fmt(result['bigram_perplexity']):>12}",
        ]
    if result.get("samples") or result.get("corpus"):
        n = len(result.get("sample_files") or [])
        kind = "generated" if result.get("samples_generated") else "given"
        pieces = result.get("corpus_pieces", 0)
        versus = f"{pieces} training pieces" if pieces else "no training corpus"
        bars = ""
        if result.get("sample_bars") and result.get("corpus_bars"):
            bars = f"; bars {result['sample_bars']:.0f} vs {result['corpus_bars']:.0f}"
        lines += ["", f"music: {n} {kind} sample{'s' * (n != 1)} vs {versus} "
                      f"(means per piece{bars})",
                  f"  {'statistic':<22}{'samples':>10}{'corpus':>10}{'human WJD':>12}"]
        sources: list[str] = []  # footnotes, in order of first use
        for name in stats.STATS:
            pct = name in _PERCENT_STATS
            ref, mark = result["reference"].get(name), ""
            if ref:
                if ref["source"] not in sources:
                    sources.append(ref["source"])
                mark = f"{_fmt(ref['value'], pct)} [{sources.index(ref['source']) + 1}]"
            lines.append(f"  {name:<22}{_fmt((result.get('samples') or {}).get(name), pct):>10}"
                         f"{_fmt((result.get('corpus') or {}).get(name), pct):>10}{mark:>12}")
        lines += [f"  [{i + 1}] {s}" for i, s in enumerate(sources)]
    o = result.get("originality")
    if o:
        lines += ["", f"originality: longest interval run shared with a training piece: max "
                      f"{o['longest_run_max']}, mean {o['longest_run_mean']:.1f}; "
                      f"{o['copies']} of {len(o['per_sample'])} samples copy "
                      f"(>= {o['threshold']} intervals)"]
    if result.get("problems"):
        lines += [""] + [f"note: {p}" for p in result["problems"]]
    return "\n".join(lines)
