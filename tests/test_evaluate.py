"""`evaluate_jazz` on a tiny corpus and run built here: 3 MIDI solos, the tiny recipe, 1 epoch."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from jazzgen.config import GenerateConfig, load_config
from jazzgen.core.corpus import read_corpus
from jazzgen.core.ngram import NGramModel
from jazzgen.core.rundir import open_run
from jazzgen.core.vocab import BOS, EOS
from jazzgen.music import stats
from jazzgen.music.chords import parse_chord
from jazzgen.music.evaluate import REFERENCE, evaluate_jazz, format_report, read_solo
from jazzgen.music.midi_io import write_midi
from jazzgen.music.score import ChordSpan, Note, Score

ROOT = Path(__file__).resolve().parent.parent
CHANGES = ("Dm7", "G7", "Cmaj7", "A7")


def solo(seed: int, bars: int = 8) -> Score:
    """A random walk of eighths, quarters and triplet eighths over a looping ii-V-I-VI."""
    rng = np.random.default_rng(seed)
    notes, beat, pitch = [], 0.0, 64
    while True:
        length = float(rng.choice([0.5, 0.5, 1.0, 1 / 3]))
        if beat + length > bars * 4:
            break
        pitch = int(np.clip(pitch + rng.integers(-4, 5), 55, 80))
        notes.append(Note(pitch, beat, length))
        beat += length
    chords = [ChordSpan(parse_chord(CHANGES[b % 4]), 4.0 * b, 4.0) for b in range(bars)]
    return Score(tuple(notes), tuple(chords), tempo_qpm=160.0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(run, corpus, source MIDI paths, result of evaluate_jazz generating 2 solos)."""
    from jazzgen.stages.preprocess import preprocess
    from jazzgen.stages.train import train

    root = tmp_path_factory.mktemp("evaluate")
    sources = root / "solos"
    sources.mkdir()
    paths = [sources / f"solo{k}.mid" for k in range(3)]
    for k, path in enumerate(paths):
        write_midi(solo(k), path)
    cfg = load_config(ROOT / "pipelines" / "tiny.toml")
    cfg = replace(cfg, preprocess=replace(cfg.preprocess, sources=(str(sources),),
                                          output=str(root / "corpus")),
                  train=replace(cfg.train, epochs=1))
    preprocess(cfg.preprocess, log=lambda m: None)
    train(root / "corpus", root / "run", cfg, log=lambda m: None)
    run = open_run(root / "run")
    result = evaluate_jazz(run, n_generate=2, seed=0)
    return run, read_corpus(root / "corpus"), paths, result


def test_result_has_every_figure(tiny) -> None:
    run, _, _, result = tiny
    for key in ("loss", "perplexity", "accuracy", "baseline_perplexity", "baseline_loss",
                "val_pieces", "val_values", "samples", "corpus", "originality", "reference"):
        assert key in result, key
    assert result["problems"] == []
    assert result["val_pieces"] == len(run.info["val_pieces"]) == 1
    assert result["samples_generated"] and len(result["sample_files"]) == 2
    assert set(result["samples"]) == set(stats.STATS) == set(result["corpus"])
    assert result["corpus_pieces"] == len(run.info["train_pieces"]) == 2
    assert set(result["originality"]) >= {"longest_run_max", "longest_run_mean", "copies"}
    assert result["reference"] == REFERENCE
    json.dumps(result, allow_nan=False)  # plain JSON: undefined figures are None, not NaN


def test_numpy_loss_matches_keras_train_model(tiny) -> None:
    """The engine's stepped loss equals the masked NLL of the Keras training graph."""
    from jazzgen.core.models import build_models, import_weights, load_export

    run, corpus, _, result = tiny
    export = load_export(run.export_path)
    models = build_models(export.cfg, export.vocab_size)
    import_weights(models, export.cfg, export.weights)
    bos, eos = run.vocab.id(BOS), run.vocab.id(EOS)
    framed = [np.concatenate([[bos], corpus.piece_ids(i), [eos]]) for i in run.info["val_pieces"]]
    width = max(len(f) for f in framed) - 1
    x = np.zeros((len(framed), width), np.int32)
    y = np.zeros_like(x)
    for b, f in enumerate(framed):
        x[b, : len(f) - 1], y[b, : len(f) - 1] = f[:-1], f[1:]
    logits = np.asarray(models.train(x), np.float64)                      # (B, T, V)
    log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(log_p, y[..., None], axis=-1)[..., 0]       # (B, T)
    mask = y != 0
    assert result["val_values"] == mask.sum()
    assert result["loss"] == pytest.approx(nll[mask].mean(), abs=1e-4)
    assert result["accuracy"] == pytest.approx((logits.argmax(-1) == y)[mask].mean())
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))


def test_baseline_is_the_ngram_on_the_same_values(tiny) -> None:
    run, corpus, _, result = tiny
    eos = run.vocab.id(EOS)
    train = [np.append(corpus.piece_ids(i), eos) for i in run.info["train_pieces"]]
    val = [np.append(corpus.piece_ids(i), eos) for i in run.info["val_pieces"]]
    ngram = NGramModel(3, len(run.vocab), bos_id=run.vocab.id(BOS)).fit(train)
    assert result["baseline_order"] == 3
    assert result["baseline_loss"] == pytest.approx(ngram.mean_nll(val))
    assert result["baseline_perplexity"] == pytest.approx(math.exp(result["baseline_loss"]))
    assert math.isfinite(result["bigram_perplexity"]) and result["bigram_loss"] > 0


def test_sample_stats_match_stats_on_the_same_files(tiny, tmp_path) -> None:
    from jazzgen.stages.generate import generate

    run, _, _, _ = tiny
    paths = generate(run.path, tmp_path / "s.mid", GenerateConfig(bars=8, count=3, seed=5),
                     log=lambda m: None)
    scores = [read_solo(p) for p in paths]
    assert all(s.chords for s in scores)  # chords came back from the markers
    result = evaluate_jazz(run, paths)
    assert not result["samples_generated"] and result["sample_files"] == [str(p) for p in paths]
    assert result["samples"] == pytest.approx(stats.corpus_stats(scores), nan_ok=True)
    single = evaluate_jazz(run, paths[:1])
    assert single["samples"] == pytest.approx(stats.score_stats(scores[0]), nan_ok=True)


def test_a_training_solo_counts_as_a_copy(tiny) -> None:
    run, corpus, _, _ = tiny
    source = corpus.pieces[run.info["train_pieces"][0]]["source"]
    result = evaluate_jazz(run, [source])
    longest = len(read_solo(source).notes) - 1  # every interval of the piece is shared
    assert result["originality"]["longest_run_max"] == longest >= 20
    assert result["originality"]["copies"] == 1


def test_another_corpus_skips_the_heldout_part_and_says_so(tiny) -> None:
    run, _, paths, _ = tiny
    moved = replace(run, info={**run.info, "corpus_hash": "0" * 16})
    result = evaluate_jazz(moved, paths[:1])
    assert result["loss"] is None and result["corpus"] is None and result["originality"] is None
    assert any("hash" in p for p in result["problems"])
    assert result["samples"] is not None  # the samples are still measured
    report = format_report(result)
    assert "hash" in report and "perplexity" not in report and "no training corpus" in report


def test_report_puts_samples_corpus_and_reference_side_by_side(tiny) -> None:
    _, _, _, result = tiny
    report = format_report(result)
    assert "perplexity" in report and "3-gram" in report
    for name in stats.STATS:
        assert name in report
    h1_line = next(line for line in report.splitlines() if line.strip().startswith("h1 "))
    assert f"{result['samples']['h1']:.3f}" in h1_line
    assert f"{result['corpus']['h1']:.3f}" in h1_line
    assert "1.940" in h1_line
    assert "Jazz Transformer" in report and "MINGUS" in report


def test_two_sample_test_plays_over_the_heldout_changes(tiny) -> None:
    from jazzgen.music.listening import heldout_pairs, listening_test
    from jazzgen.music.solos import load_articulation

    run, corpus, _, _ = tiny
    generated, human = heldout_pairs(run, corpus, seed=0, articulation=load_articulation(run))
    assert len(generated) == len(human) == 1
    gen, hum = generated[0], human[0]
    assert gen.chords == hum.chords and gen.chords[0].start_beat == 0.0
    assert max(n.end_beat for n in gen.notes) <= gen.chords[-1].end_beat + 1e-9
    result = listening_test(generated, human)
    assert result["generated_figures"]["off_grid_onsets"] == 0.0
    assert result["human_figures"]["off_grid_onsets"] == 0.0
    assert result["phrases_human"] >= 1 and result["phrases_generated"] >= 1
    # The recorded solos of this corpus are legato: the learned articulation keeps them so.
    assert result["generated_figures"]["sounding_share"] > 0.8
    assert result["auc"] is None  # one held-out piece: nothing to cross-validate by piece
    from jazzgen.music.listening import format_listening

    assert "skipped" in format_listening(result)


def test_the_pairs_play_over_the_pieces_asked_for(tiny) -> None:
    from jazzgen.music.listening import heldout_pairs

    run, corpus, _, _ = tiny
    training = [i for i in range(len(corpus.pieces)) if i not in run.info["val_pieces"]]
    generated, human = heldout_pairs(run, corpus, seed=0, pieces=training)
    assert sorted(h.source for h in human) == sorted(corpus.pieces[i]["source"] for i in training)
    assert len(generated) == len(training) and all(g.notes for g in generated)
    held_out = heldout_pairs(run, corpus, seed=0)[1]
    assert {h.source for h in held_out}.isdisjoint(h.source for h in human)
