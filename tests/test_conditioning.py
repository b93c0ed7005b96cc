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
    N_BEAT_HARMONY,
    N_FEATURES,
    VERSION,
    VERSION_1,
    VERSION_2,
    ValuesCondition,
    _column,
    features_at,
    n_features,
    piece_rows,
    value_ticks,
    version_for,
)
from jazzgen.music.line import MelodyState
from jazzgen.music.score import ChordSpan
from jazzgen.music.values import Decoding, ValuesTokenizer

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
    assert row.shape == (N_BEAT_HARMONY,)
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


@pytest.mark.parametrize("version", [VERSION_1, VERSION_2, VERSION])
def test_sampling_rows_are_the_training_rows(version):
    tokens = ["<pad>", "<unk>", "<bos>", "<eos>", "C,1/2,<-2,2>", "S,1/3,<0,4>", "R,1", "X,3/2",
              "A,1/4,<-9,-5>"]
    ticks = value_ticks(tokens)
    assert list(ticks) == [0, 0, 0, 0, 6, 4, 12, 18, 3]
    rng = np.random.default_rng(0)
    ids = rng.integers(4, len(tokens), 40)
    framed = np.concatenate([[2], ids, [3]])
    piece = {"chords": [[s.chord.symbol, s.start_beat, s.duration_beats] for s in SPANS],
             "time_signature": [4, 4], "tempo_qpm": 190.0, "first_pitch": 62}
    rows = piece_rows(framed, tokens, piece, version)                       # (42, 1 + F)
    assert rows.shape == (42, 1 + n_features(version))
    # The piece's own decoding: from its first pitch (training decodes with seed 0).
    decoding = Decoding(ValuesTokenizer(), tuple(SPANS), (0,), 62)
    cond = ValuesCondition(tokens, [SPANS], [4.0], [190.0], version, [decoding])
    fed = [cond.start()[0]] + [cond.advance(np.array([i]))[0] for i in ids]
    np.testing.assert_array_equal(rows[:-1, 1:], np.array(fed))
    np.testing.assert_array_equal(rows[:, 0], framed)


def test_melody_state_says_where_the_line_is():
    state = MelodyState(tempo_qpm=250.0, low_pitch=48, high_pitch=84)
    row = state.row(root=0)
    assert np.argmax(row[:6]) == 4                                           # 220 <= 250 < 270 bpm
    assert np.argmax(row[6:19]) == 12 and not row[19:].any()                 # no note yet
    for pitch in (60, 64, 67, 79):
        state.feed(pitch)
    state.feed(None)                                                         # a rest keeps the line
    row = state.row(root=7)                                                  # G7 sounds: 79 is its root
    assert np.argmax(row[6:19]) == 0
    assert np.argmax(row[19:27]) == int((79 - 48) / 37 * 8)                  # high in the range
    assert row[-1] == pytest.approx((79 - np.mean([60, 64, 67, 79])) / 12)
    assert np.argmax(state.row(root=None)[6:19]) == 12                       # no chord: no pitch class


def test_interval_types_say_exactly_which_values_are_playable():
    from jazzgen.music.line import REACH, interval_types, playable_values

    tokens = ["<bos>", "R,1"] + [f"{t},1/2,<{i - 2},{i + 2}>" for t in "CSAX" for i in range(-REACH, REACH + 1)]
    for previous, symbol in [(60, "G7"), (83, "Dm7b5"), (49, "Cmaj7#11"), (70, None)]:
        chord = None if symbol is None else parse_chord(symbol)
        table = interval_types(previous, chord, 48, 84).reshape(2 * REACH + 1, 4)    # (intervals, TYPE)
        mask = playable_values(tokens, previous, chord, 48, 84)
        assert mask[:2].all()                                             # rests and specials always
        told = np.concatenate([table[:, k] for k in range(4)]).astype(bool)
        np.testing.assert_array_equal(mask[2:], told)
        in_range = [48 <= previous + i <= 84 for i in range(-REACH, REACH + 1)]
        np.testing.assert_array_equal(table.sum(axis=1), in_range)        # one TYPE per playable pitch
    # G7 over a G: the unison is a chord tone, a semitone up (Ab) an approach tone
    g7 = interval_types(67, parse_chord("G7"), 48, 84).reshape(-1, 4)
    assert g7[REACH].argmax() == 0 and g7[REACH + 1].argmax() == 2


def test_training_rows_see_the_pieces_own_pitches():
    from jazzgen.music.conditioning import onset_roots
    from jazzgen.music.score import Note, Score

    melody = [62, 65, 69, 72, 71, 67, 65, 62, 60, 64, 67, 71, 72]
    score = Score(tuple(Note(p, 4 + i / 2, 0.5) for i, p in enumerate(melody)), tuple(SPANS))
    tok = ValuesTokenizer()
    values = tok.encode(score)
    tokens = ["<bos>", "<eos>"] + sorted(set(values))
    framed = np.array([0] + [tokens.index(v) for v in values] + [1])
    piece = {"chords": [[s.chord.symbol, s.start_beat, s.duration_beats] for s in SPANS],
             "time_signature": [4, 4], "tempo_qpm": 150.0, "first_pitch": 62}
    rows = piece_rows(framed, tokens, piece, VERSION)
    pcs = rows[:, 1 + _column("pitch_class"): 1 + _column("pitch_class") + 13]
    roots = onset_roots(rows[:, 1: 1 + N_BEAT_HARMONY])
    notes_seen = [k for k in range(len(framed)) if not tokens[framed[k]].startswith(("R", "<"))]
    for k, pitch in zip(notes_seen[:-1], melody, strict=False):
        assert roots[k] is not None and np.argmax(pcs[k]) == (pitch - roots[k]) % 12


def test_versions_are_told_apart_by_width():
    assert version_for(N_BEAT_HARMONY) == VERSION_1 and version_for(N_FEATURES) == VERSION
    assert version_for(n_features(VERSION_2)) == VERSION_2
    assert N_BEAT_HARMONY < n_features(VERSION_2) < N_FEATURES
    assert [name for name, _ in FEATURE_BLOCKS][-5:] == ["tempo", "pitch_class", "register", "local",
                                                         "interval_types"]
    with pytest.raises(ValueError, match="knows"):
        version_for(7)


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


@pytest.mark.parametrize("gate", [False, True])
def test_conditioned_tiny_run_trains_generates_and_evaluates(tmp_path, gate):
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
                  data=replace(cfg.data, condition=True, val_fraction=0.25, gate=gate),
                  train=replace(cfg.train, epochs=1))
    preprocess(cfg.preprocess, log=lambda m: None)
    train(tmp_path / "corpus", tmp_path / "run", cfg, log=lambda m: None)
    run = open_run(tmp_path / "run")
    assert run.task["condition"] == VERSION and NumpyEngine.from_export(run.export_path).cfg.condition_dim
    assert len(NumpyEngine.from_export(run.export_path).gates) == (2 if gate else 0)
    calibration = run.info["calibration"]  # the export's logits fitted to the held-out pieces
    assert 0.8 <= calibration["temperature"] <= 1.5
    assert calibration["val_nll_after"] <= calibration["val_nll_before"]
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


class _Recording:
    """A conditioned engine that records the rows it is stepped with."""

    def __init__(self, engine):
        self.engine, self.cfg, self.rows = engine, engine.cfg, []

    def initial_state(self, batch_size):
        return self.engine.initial_state(batch_size)

    def step(self, rows, state):
        self.rows.append(np.array(rows))
        return self.engine.step(rows, state)


def test_sampling_tells_the_model_each_solos_tempo_and_line():
    from jazzgen.core.vocab import Vocab
    from jazzgen.music.solos import sample_values

    tokens = ["<pad>", "<unk>", "<bos>", "<eos>", "C,1/2,<-2,2>", "S,1/3,<1,5>", "R,1", "X,1/2",
              "C,1/4,<-9,-5>"]
    cfg = ModelConfig(units=8, embedding_dim=4, condition_dim=N_FEATURES)
    rng = np.random.default_rng(2)
    weights = export_weights(build_models(cfg, len(tokens)), cfg)
    engine = _Recording(NumpyEngine(cfg, weights, len(tokens)))

    class Run:
        vocab = Vocab(tokens)

    decodings = [Decoding(ValuesTokenizer(), tuple(SPANS), (5, b)) for b in range(2)]
    ids = sample_values(Run(), engine, ValuesTokenizer(), [8.0, 8.0], rng, spans=[SPANS, SPANS],
                        tempo_qpm=[60.0, 300.0], decodings=decodings)
    tempo = slice(_column("tempo"), _column("tempo") + 6)
    for rows in engine.rows:
        assert list(np.argmax(rows[:, 1:][:, tempo], axis=1)) == [0, 5]    # slowest and fastest bins
    pc = slice(_column("pitch_class"), _column("pitch_class") + 13)
    for b in range(2):  # the pitch class told is the one the solo's decoding gives
        notes = decodings[b].decode(Run.vocab.decode(ids[b])).notes
        last = engine.rows[len(ids[b]) - 1][b, 1:]                             # after ids[b][:-1]
        onset = sum(value_ticks(tokens)[ids[b][:-1]]) / 12                   # beats
        sounding = [n for n in notes if n.start_beat < onset - 1e-9]
        root = last[_column("root"):_column("root") + 12]
        if sounding and root.any():
            assert np.argmax(last[pc]) == (sounding[-1].pitch - int(np.argmax(root))) % 12


def test_generation_passes_the_charts_tempo(spy_sample_values, tmp_path):
    import jazzgen

    seen = spy_sample_values("tempo_qpm")
    jazzgen.generate("Dm7 | G7 | Cmaj7 | Cmaj7", bars=4, tempo=233, band="none", seed=1)
    assert seen == [233]


def test_output_gates_allow_what_sampling_allows():
    from jazzgen.core.gates import GateBlock
    from jazzgen.music.conditioning import output_gates
    from jazzgen.music.solos import meter_masks

    tokens = ["<pad>", "<unk>", "<bos>", "<eos>", "R,1", "R,1/3", "C,1/2", "S,1/3"]
    tokens += [f"{t},{d},<{i - 2},{i + 2}>" for t in "CSAX" for d in ("1/4", "1/3", "1/2", "3/4")
               for i in range(-7, 8)]
    gates = output_gates(tokens)
    assert all(isinstance(g, GateBlock) for g in gates)
    masks, _ = meter_masks(tokens, 12)
    decoding = Decoding(ValuesTokenizer(), tuple(SPANS), (4,), 60)
    cond = ValuesCondition(tokens, [SPANS], [4.0], [160.0], VERSION, [decoding])
    rng = np.random.default_rng(5)
    features = cond.start()[0]
    checked = 0
    for _ in range(60):
        gated = np.logical_and.reduce([g.allowed(features) for g in gates])           # (V,)
        assert gated[:4].all()             # specials are never gated (<eos> ends every training piece)
        phase = int(cond.now[0] % 12)
        sampler = masks[phase] & cond.allowed()[0]                                      # what choose() allows
        if cond.lines[0].previous is not None:
            np.testing.assert_array_equal(gated[4:], sampler[4:])
            checked += 1
        choices = np.flatnonzero(sampler)
        features = cond.advance(np.array([rng.choice(choices)]))[0]
    assert checked > 40


def test_gates_need_the_condition_features(tmp_path):
    from jazzgen.config import load_config
    from jazzgen.errors import UsageError
    from jazzgen.music.preprocess import preprocess
    from jazzgen.stages.train import train

    cfg = load_config(ROOT / "pipelines" / "tiny.toml")
    sources = sorted((ROOT / "data" / "midi" / "wjd").glob("*.mid"))[:2]
    cfg = replace(cfg, preprocess=replace(cfg.preprocess, sources=tuple(map(str, sources)),
                                          output=str(tmp_path / "corpus")),
                  data=replace(cfg.data, condition=False, gate=True))
    preprocess(cfg.preprocess, log=lambda m: None)
    with pytest.raises(UsageError, match="data.gate needs data.condition"):
        train(tmp_path / "corpus", tmp_path / "run", cfg, log=lambda m: None)
