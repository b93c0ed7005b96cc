"""The two-sample test, the meter mask and the learned articulation, measured on output."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from jazzgen.core.sampling import sample_sequences
from jazzgen.core.vocab import Vocab
from jazzgen.music.articulation import (
    BINS,
    CONTEXTS,
    DURATION_CLASSES,
    LAYOUT,
    POOLED_CLASSES,
    articulate,
    articulation_counts,
    articulation_table,
    duration_class,
)
from jazzgen.music.chords import parse_chord
from jazzgen.music.listening import (
    FEATURES,
    ON_GRID,
    fit_logistic,
    on_grid,
    phrase_features,
    roc_auc,
    solo_figures,
    two_sample_test,
)
from jazzgen.music.score import ChordSpan, Note, Score
from jazzgen.music.solos import meter_masks, sample_values
from jazzgen.music.values import ValuesTokenizer

C7 = parse_chord("C7")


class RandomEngine:
    """Logits drawn afresh at every step: a network that knows nothing about the meter."""

    def __init__(self, vocab_size: int, seed: int = 0):
        self.v, self.rng = vocab_size, np.random.default_rng(seed)

    def initial_state(self, batch_size):
        return []

    def step(self, ids, state):
        return self.rng.normal(0, 2, (len(ids), self.v)), state


def test_roc_auc_matches_counting_pairs():
    rng = np.random.default_rng(1)
    scores, y = np.round(rng.normal(size=60), 1), (rng.random(60) < 0.4).astype(float)
    pairs = [(a, b) for a, b in itertools.product(scores[y == 1], scores[y == 0])]
    expected = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs])
    assert roc_auc(scores, y) == pytest.approx(expected)


def test_logistic_regression_reaches_the_penalised_optimum():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 3))
    y = (x @ [2.0, -1.0, 0.0] + rng.normal(size=200) > 0).astype(float)
    w = fit_logistic(x, y, l2=1.0)
    xb = np.hstack([x, np.ones((200, 1))])
    p = 1 / (1 + np.exp(-xb @ w))
    grad = xb.T @ (p - y) + np.r_[w[:-1], 0.0]  # the intercept is not penalised
    assert np.abs(grad).max() < 1e-6
    assert w[0] > 1 and w[1] < -0.5


def _fake_phrases(rng, shift: float, n: int) -> list[dict]:
    return [{name: rng.normal() + (shift if name == "range" else 0.0) for name in FEATURES}
            for _ in range(n)]


def test_two_sample_test_tells_apart_only_what_differs():
    rng = np.random.default_rng(3)
    same = two_sample_test([_fake_phrases(rng, 0.0, 12) for _ in range(20)],
                           [_fake_phrases(rng, 0.0, 12) for _ in range(20)])
    assert 0.35 < same["auc"] < 0.65
    apart = two_sample_test([_fake_phrases(rng, 3.0, 12) for _ in range(20)],
                            [_fake_phrases(rng, 0.0, 12) for _ in range(20)])
    assert apart["auc"] > 0.95
    top = apart["most_different"][0]
    assert top["feature"] == "range" and top["generated"] - top["human"] == pytest.approx(3, abs=0.5)
    assert apart["auc_by_group"]["pitch"] > 0.95 and apart["auc_by_group"]["rhythm"] < 0.7


def _score(notes, bars: int = 4) -> Score:
    chords = tuple(ChordSpan(C7, 4.0 * b, 4.0) for b in range(bars))
    return Score(tuple(Note(p, s, d) for p, s, d in notes), chords)


def test_phrase_features_and_figures_on_a_written_phrase():
    # C7: E (64) and G (67) are chord tones; D (62) a scale tone; a tied repeat of G; one
    # onset 1/12 of a beat late (off the grid).
    s = _score([(64, 0.0, 1.0), (62, 1.0, 0.5), (67, 2.0, 1.0), (67, 3.0, 0.5),
                (66, 4 + 1 / 12, 0.5), (67, 6.0, 1.0)])
    f = phrase_features(s, 0.0, 16.0)
    assert f["off_grid"] == pytest.approx(1 / 6)
    assert f["repeats"] == pytest.approx(1 / 5) and f["tied_repeats"] == pytest.approx(1 / 5)
    assert f["range"] == 5 and f["chord_tones"] == pytest.approx(4 / 6)
    assert f["chord_tones_13"] == 1.0  # beats 1 and 3: E at 0, G at 2, G at 6
    figures = solo_figures([s])
    assert figures["tied_repeats"] == 1.0 and figures["repeated_pitches"] == pytest.approx(0.2)
    assert figures["sounding_share"] == pytest.approx(4.5 / 7.0)
    assert phrase_features(s, 16.0, 16.0) is None  # no notes there


def test_on_grid_snaps_onsets_and_keeps_recorded_lengths():
    raw = _score([(60, 0.03, 0.2), (62, 0.49, 0.53), (64, 1.02, 0.1)])
    snapped = on_grid(raw, ValuesTokenizer()._snap)
    assert [n.start_beat for n in snapped.notes] == [0.0, 0.5, 1.0]
    assert [round(n.duration_beats, 6) for n in snapped.notes] == [0.2, 0.5, 0.1]  # cut at 1.0


def _values_vocab() -> Vocab:
    durations = ["1/12", "1/6", "1/4", "1/3", "5/12", "1/2", "2/3", "3/4", "1", "3/2"]
    return Vocab(["<pad>", "<unk>", "<bos>", "<eos>"]
                 + [f"{k},{d},<-2,2>" for k in "CS" for d in durations]
                 + [f"R,{d}" for d in durations])


def test_meter_mask_keeps_every_onset_on_the_grid():
    vocab = _values_vocab()
    masks, ticks = meter_masks(vocab.tokens, 12)
    assert not masks[:, :4].any()  # specials never
    run = SimpleNamespace(vocab=vocab)
    tok = ValuesTokenizer()
    for meter, expect_off in ((True, False), (False, True)):
        ids = sample_values(run, RandomEngine(len(vocab)), tok, [32.0] * 8,
                            np.random.default_rng(0), meter=meter)
        offs = 0
        for seq in ids:
            onset_ticks = np.cumsum([0] + [ticks[i] for i in seq[:-1]]) % 12
            offs += sum(t not in ON_GRID for t in onset_ticks)
        assert (offs > 0) == expect_off


def test_phase_masks_follow_each_sequence_from_its_start_phase():
    # Two ids: 0 moves the phase by 1, 1 by 2; at odd phases only id 0 may be drawn.
    masks = np.array([[True, True], [True, False], [True, True], [True, False]])
    out = sample_sequences(RandomEngine(2), 6, np.random.default_rng(4), start_id=0,
                           max_steps=20, phase_masks=masks, phase_step=np.array([1, 2]),
                           start_phase=1)
    for seq in out:
        phase = 1
        for i in seq:
            assert masks[phase, i]
            phase = (phase + (1, 2)[i]) % 4


def test_budgets_may_differ_per_sequence():
    cost = np.array([0.0, 1.0])
    out = sample_sequences(RandomEngine(2), 3, np.random.default_rng(0), start_id=0, max_steps=50,
                           allowed=np.array([False, True]), cost=cost, budget=np.array([2, 5, 9]))
    assert [len(s) for s in out] == [2, 5, 9]


def test_articulation_is_learned_and_drawn_back():
    # Every eighth of the "recording" sounds 60% of its value (legato once quantized).
    raw = _score([(60 + (k % 5), 0.5 * k, 0.3) for k in range(32)], bars=4)
    quantized, _ = ValuesTokenizer().quantize_score(raw)
    counts = articulation_counts(raw, quantized)
    table = articulation_table([(counts, LAYOUT)])
    grid = np.array(table["counts"])
    assert grid.shape == (len(DURATION_CLASSES), len(CONTEXTS), BINS + 1)  # + held to the next onset
    assert grid[duration_class(0.5), CONTEXTS.index("legato"), int(0.6 * BINS)] == 31  # the last: "rest"
    legato = _score([(60 + (k % 5), 0.5 * k, 0.5) for k in range(32)], bars=4)
    played = articulate(legato, table, np.random.default_rng(0))
    assert [n.start_beat for n in played.notes] == [n.start_beat for n in legato.notes]
    ratios = np.array([n.duration_beats / 0.5 for n in played.notes[:-1]])
    assert np.all((ratios >= 0.6) & (ratios < 0.65))


def _rendered_ratios(raw: Score, values: Score) -> dict[int, np.ndarray]:
    """Per value length in ticks, the sounding ratios `values` get from a table learned on `raw`."""
    quantized, _ = ValuesTokenizer().quantize_score(raw)
    table = articulation_table([(articulation_counts(raw, quantized), LAYOUT)])
    played = articulate(values, table, np.random.default_rng(1))
    out: dict[int, list[float]] = {}
    for before, after in zip(values.notes[:-1], played.notes[:-1]):
        out.setdefault(round(before.duration_beats * 12), []).append(after.duration_beats / before.duration_beats)
    return {k: np.array(v) for k, v in out.items()}


def test_short_values_keep_their_own_articulation_and_held_notes_stay_held():
    # Recorded: sixteenth triplets (2 ticks) sound half their value (a gap of 1/12 beat: detached),
    # sixteenths (3 ticks) 90% (a gap of 1/40 beat: heard tied), half notes up to the next onset.
    def line(step, sound, n, start=0.0):
        return [(60 + k % 3, start + step * k, sound) for k in range(n)]
    raw = _score(line(1 / 6, 1 / 12, 24) + line(1 / 4, 0.225, 24, 4.0) + line(2.0, 2.0, 4, 10.0), bars=5)
    values = _score(line(1 / 6, 1 / 6, 24) + line(1 / 4, 1 / 4, 24, 4.0) + line(2.0, 2.0, 4, 10.0), bars=5)
    ratios = _rendered_ratios(raw, values)
    assert np.all((ratios[2] >= 0.5) & (ratios[2] < 0.51))  # pooled with the sixteenths: often tied
    assert np.all((ratios[3] >= 0.9) & (ratios[3] < 0.91))
    assert np.all(ratios[24] == 1.0)                         # held: touching, not 0.95-1.0 of it


def test_tables_of_the_pooled_layout_render_as_before():
    import json
    from pathlib import Path

    # the bundled model's table before the finer layout (20 bins, pooled classes)
    table = json.loads((Path(__file__).resolve().parent / "fixtures" / "articulation_pooled.json").read_text())
    assert table["duration_classes"] == list(POOLED_CLASSES) and "held" not in table
    score = _score([(60 + k % 4, 0.25 * k, 0.25) for k in range(40)] + [(70, 10.0, 2.0), (70, 12.0, 1.0)])
    played = articulate(score, table, np.random.default_rng(4))
    # the drawing of the layout it was written in: 6 pooled classes, 20 bins, uniform in the top bin
    cdf = np.cumsum(np.array(table["counts"], float), axis=2)
    rng = np.random.default_rng(4)
    contexts = [0 if b.pitch == a.pitch else 1 for a, b in zip(score.notes, score.notes[1:])] + [2]
    for note, context, out in zip(score.notes, contexts, played.notes):
        row = cdf[duration_class(note.duration_beats, POOLED_CLASSES), context]
        b = min(int(np.searchsorted(row / row[-1], rng.random(), side="right")), 19)
        assert out.duration_beats == pytest.approx(max(note.duration_beats * (b + rng.random()) / 20, 1 / 24))


def test_counts_of_both_layouts_make_one_pooled_table():
    raw = _score([(60 + (k % 5), 0.5 * k, 0.3) for k in range(32)], bars=4)
    quantized, _ = ValuesTokenizer().quantize_score(raw)
    counts = articulation_counts(raw, quantized)
    table = articulation_table([(counts, LAYOUT), ({}, 1)])                 # an older piece among them
    grid = np.array(table["counts"])
    assert (table["bins"], table["duration_classes"], table["held"]) == (20, list(POOLED_CLASSES), False)
    assert grid.sum() == sum(counts.values())
    assert grid[2, CONTEXTS.index("legato"), 12] == 31                  # eighths at 0.6: pooled class 2, bin 12


def test_decoding_repeats_only_values_that_repeat():
    tok = ValuesTokenizer()
    chords = [ChordSpan(C7, 0.0, 64.0)]
    values = ["C,1/2"] + ["A,1/2,<-1,3>", "C,1/2,<-3,1>", "S,1/2,<-2,2>"] * 20
    score = tok.decode(values, chords=chords, rng=np.random.default_rng(0))
    steps = np.diff([n.pitch for n in score.notes])
    moving = np.array([v.endswith("<-2,2>") for v in values[1:]])
    assert np.all(steps[~moving] != 0)  # a value that moves never lands on the last pitch
    assert np.all(steps[moving] == 0)   # a value of interval 0 repeats, whatever its TYPE
