"""Beat and harmony conditioning: the features, training rows = sampling rows, numpy = Keras."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from jazzgen.core.engine import KerasEngine, NumpyEngine
from jazzgen.core.models import ModelConfig, build_models, export_weights
from jazzgen.music.chords import parse_chord
from jazzgen.music.conditioning import (
    FEATURE_BLOCKS,
    N_FEATURES,
    ValuesCondition,
    _column,
    features_at,
    piece_rows,
    value_ticks,
)
from jazzgen.music.score import ChordSpan

ROOT = Path(__file__).resolve().parent.parent
SPANS = [ChordSpan(parse_chord("Dm7"), 4.0, 4.0), ChordSpan(parse_chord("G7"), 8.0, 2.0),
         ChordSpan(parse_chord("Cmaj7"), 10.0, 6.0)]


def block(row: np.ndarray, name: str) -> np.ndarray:
    width = dict(FEATURE_BLOCKS)[name]
    return row[_column(name): _column(name) + width]


def test_features_say_where_the_onset_is_and_what_sounds():
    # beat 9 + 1/3: bar 2 (the first chord's bar is bar 1), beat 2, a triplet in; G7 sounds,
    # Cmaj7 (a fourth below G: +5 semitones) comes in 2/3 of a beat.
    row = features_at(np.array([9 * 12 + 4]), SPANS, 4.0)[0]
    assert row.shape == (N_FEATURES,)
    assert np.argmax(block(row, "beat")) == 1 and np.argmax(block(row, "position")) == 4
    assert np.argmax(block(row, "bar")) == 1
    assert np.argmax(block(row, "root")) == 7                              # G
    assert set(np.flatnonzero(block(row, "chord"))) == {0, 4, 7, 10}       # dominant seventh
    assert np.argmax(block(row, "next_root")) == 5
    assert set(np.flatnonzero(block(row, "next_chord"))) == {0, 4, 7, 11}
    assert block(row, "until_change")[0] == pytest.approx((2 / 3) / 8)
    assert block(row, "change")[0] == 0 and block(row, "no_chord")[0] == 0
    before = features_at(np.array([0]), SPANS, 4.0)[0]                     # count-in: no chord
    assert block(before, "no_chord")[0] == 1 and not block(before, "root").any()
    assert np.argmax(block(before, "next_root")) == 0                      # Dm7 comes next
    on = features_at(np.array([8 * 12]), SPANS, 4.0)[0]
    assert block(on, "change")[0] == 1


def test_sampling_rows_are_the_training_rows():
    tokens = ["<pad>", "<unk>", "<bos>", "<eos>", "C,1/2,<-2,2>", "S,1/3,<0,4>", "R,1", "X,3/2"]
    ticks = value_ticks(tokens)
    assert list(ticks) == [0, 0, 0, 0, 6, 4, 12, 18]
    rng = np.random.default_rng(0)
    ids = rng.integers(4, len(tokens), 40)
    framed = np.concatenate([[2], ids, [3]])
    piece = {"chords": [[s.chord.symbol, s.start_beat, s.duration_beats] for s in SPANS],
             "time_signature": [4, 4]}
    rows = piece_rows(framed, ticks, piece)                                 # (42, 1 + F)
    cond = ValuesCondition(tokens, [SPANS], [4.0])
    fed = [cond.start()[0]] + [cond.advance(np.array([i]))[0] for i in ids]
    np.testing.assert_array_equal(rows[:-1, 1:], np.array(fed))
    np.testing.assert_array_equal(rows[:, 0], framed)


def test_numpy_engine_matches_keras_with_conditioning():
    cfg = ModelConfig(units=16, embedding_dim=8, condition_dim=N_FEATURES)
    models = build_models(cfg, 30)
    rng = np.random.default_rng(1)
    for w in models.train.weights:  # non-trivial weights everywhere, the biases too
        w.assign(rng.normal(0, 0.3, w.shape).astype("float32"))
    engine = NumpyEngine(cfg, export_weights(models, cfg), 30)
    rows = np.concatenate([rng.integers(1, 30, (3, 7, 1)),
                           rng.random((3, 7, N_FEATURES)) < 0.2], axis=-1).astype(np.float32)
    keras_logits = np.asarray(models.train.predict_on_batch(rows))
    np.testing.assert_allclose(engine.forward(rows), keras_logits, atol=1e-4)
    keras_engine = KerasEngine(models.step, cfg)
    ns, ks = engine.initial_state(3), keras_engine.initial_state(3)
    for t in range(7):  # the one-step graph shares the training graph's layers
        nl, ns = engine.step(rows[:, t], ns)
        kl, ks = keras_engine.step(rows[:, t], ks)
        np.testing.assert_allclose(nl, kl, atol=1e-4)
        np.testing.assert_allclose(nl, keras_logits[:, t], atol=1e-4)


def test_conditioned_tiny_run_trains_generates_and_evaluates(tmp_path):
    from jazzgen.config import GenerateConfig, load_config
    from jazzgen.core.corpus import read_corpus
    from jazzgen.core.rundir import open_run
    from jazzgen.music.evaluate import evaluate_jazz
    from jazzgen.music.generate import generate_solos
    from jazzgen.music.midi_io import read_midi
    from jazzgen.music.preprocess import preprocess
    from jazzgen.stages.train import train

    cfg = load_config(ROOT / "pipelines" / "tiny.toml")
    sources = sorted((ROOT / "data" / "midi" / "wjd").glob("*.mid"))[:4]
    cfg = replace(cfg, preprocess=replace(cfg.preprocess, sources=tuple(map(str, sources)),
                                          output=str(tmp_path / "corpus")),
                  data=replace(cfg.data, condition=True, val_fraction=0.25),
                  train=replace(cfg.train, epochs=1))
    preprocess(cfg.preprocess, log=lambda m: None)
    train(tmp_path / "corpus", tmp_path / "run", cfg, log=lambda m: None)
    run = open_run(tmp_path / "run")
    assert run.task["condition"] and NumpyEngine.from_export(run.export_path).cfg.condition_dim
    assert read_corpus(tmp_path / "corpus")
    g = GenerateConfig(bars=4, seed=3)
    a = generate_solos(run, tmp_path / "a.mid", g, chords_text="Dm7 | G7 | Cmaj7 | Cmaj7",
                       log=lambda m: None)[0]
    b = generate_solos(run, tmp_path / "b.mid", replace(g, backend="keras"),
                       chords_text="Dm7 | G7 | Cmaj7 | Cmaj7", log=lambda m: None)[0]
    assert a.read_bytes() == b.read_bytes()  # numpy and Keras draw the same solo
    assert read_midi(a)
    result = evaluate_jazz(run, n_generate=0)
    assert result["loss"] is not None and np.isfinite(result["loss"])
