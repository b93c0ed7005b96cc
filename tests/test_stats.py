"""Melody statistics on hand-built scores with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jazzgen.music import stats
from jazzgen.music.chords import Chord
from jazzgen.music.score import ChordSpan, Note, Score

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
CMAJ7 = Chord("Cmaj7", 0, (0, 4, 7, 11), 0, MAJOR_SCALE)
G7 = Chord("G7", 7, (7, 11, 2, 5), 7, (7, 9, 11, 0, 2, 4, 5))
NC = Chord("NC", None, (), None, ())


def melody(pitches, starts=None, dur=1.0, chords=(), time_signature=(4, 4)) -> Score:
    """A score from pitches laid end to end (or at `starts`), with (chord, start, length) spans."""
    starts = [i * dur for i in range(len(pitches))] if starts is None else starts
    notes = tuple(Note(p, s, dur) for p, s in zip(pitches, starts, strict=True))
    spans = tuple(ChordSpan(c, s, d) for c, s, d in chords)
    return Score(notes, spans, time_signature=time_signature)


C_SCALE = melody([60, 62, 64, 65, 67, 69, 71])


# ---- pitch ----------------------------------------------------------------------------------

def test_c_major_scale() -> None:
    assert stats.note_count(C_SCALE) == 7
    assert stats.pitch_class_entropy(C_SCALE) == pytest.approx(math.log2(7))
    assert stats.scale_consistency(C_SCALE) == 1.0
    assert stats.mean_abs_interval(C_SCALE) == pytest.approx(11 / 6)
    assert stats.pitch_range(C_SCALE) == 11


def test_entropy_and_scale_consistency_of_chromatic_and_single_pitch() -> None:
    chromatic = melody(list(range(60, 72)))
    assert stats.pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))
    assert stats.scale_consistency(chromatic) == pytest.approx(7 / 12)
    octaves = melody([48, 60, 72, 84])
    assert stats.pitch_class_entropy(octaves) == 0.0
    assert stats.pitch_range(octaves) == 36


def test_harmonic_minor_counts_as_a_scale() -> None:
    a_harmonic_minor = melody([57, 59, 60, 62, 64, 65, 68])  # G# is outside every major scale
    assert stats.scale_consistency(a_harmonic_minor) == 1.0


def test_repeated_4gram_rate() -> None:
    # steps 1 1 1 1 5 1 1 1 1: six 4-grams, (1, 1, 1, 1) at two positions
    pitches = np.cumsum([60, 1, 1, 1, 1, 5, 1, 1, 1, 1]).tolist()
    assert stats.repeated_4gram_rate(melody(pitches)) == pytest.approx(2 / 6)
    assert stats.repeated_4gram_rate(melody([60, 62, 64] * 3 + [60])) == 1.0
    assert stats.repeated_4gram_rate(C_SCALE) == 0.0
    assert math.isnan(stats.repeated_4gram_rate(melody([60, 62, 64, 65])))


def test_empty_score_gives_nan_not_errors() -> None:
    empty = Score(())
    assert stats.note_count(empty) == 0
    values = stats.score_stats(empty)
    assert all(math.isnan(v) for k, v in values.items() if k != "note_count")


# ---- harmony --------------------------------------------------------------------------------

def test_arpeggios_over_their_chords_are_all_chord_tones() -> None:
    score = melody([60, 64, 67, 71, 67, 71, 74, 77],
                   chords=[(CMAJ7, 0, 4), (G7, 4, 4)])
    assert stats.chord_tone_ratio(score) == 1.0
    assert stats.chord_scale_ratio(score) == 1.0


def test_passing_tones_and_outside_notes() -> None:
    # Over Cmaj7: C (chord) D (scale) E (chord) F# (neither)
    score = melody([60, 62, 64, 66], chords=[(CMAJ7, 0, 4)])
    assert stats.chord_tone_ratio(score) == pytest.approx(2 / 4)
    assert stats.chord_scale_ratio(score) == pytest.approx(3 / 4)


def test_notes_without_a_chord_are_left_out() -> None:
    # Bar 1 over Cmaj7 (C, D#: one chord tone of two); bar 2 in a gap; bar 3 under N.C.
    pitches = [60, 63, 61, 61, 66, 66]
    score = melody(pitches, starts=[0, 2, 4, 6, 8, 10], chords=[(CMAJ7, 0, 4), (NC, 8, 4)])
    assert stats.chord_tone_ratio(score) == pytest.approx(0.5)
    assert math.isnan(stats.chord_tone_ratio(C_SCALE))
    assert math.isnan(stats.chord_scale_ratio(C_SCALE))


def test_chord_lookup_matches_score_chord_at() -> None:
    chords = [(CMAJ7, 0, 3), (G7, 3, 2.5), (CMAJ7, 6, 4)]
    score = melody(list(range(60, 84)), dur=0.5, chords=chords)
    expected = [score.chord_at(n.start_beat) for n in score.notes]
    assert stats._onset_chords(score) == expected


# ---- bars: H1, H4, GS -----------------------------------------------------------------------

def test_h1_is_the_mean_over_bars_and_skips_empty_bars() -> None:
    # bar 0: C D (1 bit), bar 1 empty, bar 2: C C (0 bits)
    score = melody([60, 62, 60, 72], starts=[0, 2, 8, 10], dur=2.0)
    assert stats.h1(score) == pytest.approx(0.5)


def test_h4_window_shrinks_to_a_short_piece() -> None:
    score = melody([60, 62, 60, 60], dur=2.0)  # two bars: C D | C C
    p = np.array([0.75, 0.25])
    assert stats.h4(score) == pytest.approx(float(-(p * np.log2(p)).sum()))


def test_h4_slides_bar_by_bar() -> None:
    # Five bars, one pitch class each: C D E F G -> two 4-bar windows of 4 classes: 2 bits each
    score = melody([60, 62, 64, 65, 67], dur=4.0)
    assert stats.h1(score) == 0.0
    assert stats.h4(score) == pytest.approx(2.0)
    assert stats.windowed_pitch_class_entropy(score, 5) == pytest.approx(math.log2(5))


def test_bars_follow_the_time_signature() -> None:
    # In 3/4 the fourth quarter note opens bar 2: C D E | F -> bars of 3 and 1 classes
    score = melody([60, 62, 64, 65], time_signature=(3, 4))
    assert stats.h1(score) == pytest.approx((math.log2(3) + 0.0) / 2)


def test_two_identical_bars_groove_alike() -> None:
    rhythm = [0, 0.5, 1.5, 2, 3.25]
    score = melody([60] * 10, starts=rhythm + [4 + s for s in rhythm], dur=0.25)
    assert stats.grooving_similarity(score) == 1.0


def test_grooving_similarity_counts_xor_positions() -> None:
    on_beats = [0, 1, 2, 3]  # positions 0 16 32 48
    off_beats = [4.5, 5.5, 6.5, 7.5]  # positions 8 24 40 56
    score = melody([60] * 8, starts=on_beats + off_beats, dur=0.5)
    assert stats.grooving_similarity(score) == pytest.approx(1 - 8 / 64)
    # A third bar equal to the first: pairs (0,1) 56/64, (0,2) 1, (1,2) 56/64
    third = [8, 9, 10, 11]
    score = melody([60] * 12, starts=on_beats + off_beats + third, dur=0.5)
    assert stats.grooving_similarity(score) == pytest.approx((56 / 64 * 2 + 1) / 3)
    assert math.isnan(stats.grooving_similarity(melody([60, 62])))  # a single bar


# ---- originality ----------------------------------------------------------------------------

def random_melody(rng: np.random.Generator, n: int) -> Score:
    steps = rng.integers(-7, 8, size=n - 1)
    pitches = np.clip(60 + np.concatenate([[0], np.cumsum(steps)]), 20, 110)
    return melody(pitches.tolist(), dur=0.5)


def brute_force_longest(sample: list[int], pieces: list[list[int]]) -> int:
    best = 0
    for piece in pieces:
        for i in range(len(sample)):
            for j in range(len(piece)):
                k = 0
                while i + k < len(sample) and j + k < len(piece) and sample[i + k] == piece[j + k]:
                    k += 1
                best = max(best, k)
    return best


def test_copied_run_is_found_with_its_exact_length() -> None:
    training = [melody([60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60] * 2),
                melody([70, 58, 75, 61, 66, 80, 55, 77, 63, 68, 59, 73, 62, 79, 57, 74, 60,
                        71, 56, 76, 65, 81, 54, 69, 64, 78, 58, 72])]
    lick = [70, 58, 75, 61, 66, 80, 55, 77, 63, 68, 59, 73, 62]  # 12 steps of piece 1
    sample = melody([40, 41, 42] + [p - 5 for p in lick] + [30, 31])  # transposed a 4th down
    assert stats.longest_shared_interval_run(sample, training) == 12
    result = stats.originality(sample, training, threshold=12)
    assert result == stats.Originality(12, True, 1, 12)
    assert not stats.originality(sample, training).copied  # default threshold 20


def test_long_copy_is_flagged_against_a_corpus() -> None:
    rng = np.random.default_rng(7)
    training = [random_melody(rng, 300) for _ in range(20)]
    copied_pitches = [n.pitch for n in training[13].notes[100:131]]  # 30 intervals
    sample = random_melody(rng, 40).notes + tuple(
        Note(p, 20.0 + i * 0.5, 0.5) for i, p in enumerate(copied_pitches))
    score = Score(sample)
    expected = brute_force_longest(stats.intervals(score), [stats.intervals(t) for t in training])
    index = stats.IntervalIndex(training)
    result = stats.originality(score, index)
    assert result.longest_run == expected >= 30
    assert result.copied and result.source_index == 13


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), max_size=25), max_size=4),
       st.lists(st.integers(0, 3), max_size=25))
def test_longest_run_agrees_with_brute_force(pieces: list[list[int]], sample: list[int]) -> None:
    train_scores = [melody(np.cumsum([60] + p).tolist()) for p in pieces]
    sample_score = melody(np.cumsum([60] + sample).tolist())
    index = stats.IntervalIndex(train_scores)
    got = stats.longest_shared_interval_run(sample_score, index)
    assert got == brute_force_longest(sample, pieces)


def test_empty_training_set_shares_nothing() -> None:
    assert stats.originality(C_SCALE, []) == stats.Originality(0, False, None, 20)


# ---- summaries ------------------------------------------------------------------------------

def test_score_stats_keys_are_the_function_names() -> None:
    values = stats.score_stats(C_SCALE)
    assert list(values) == [
        "note_count", "pitch_class_entropy", "scale_consistency", "mean_abs_interval",
        "pitch_range", "repeated_4gram_rate", "chord_tone_ratio", "chord_scale_ratio",
        "h1", "h4", "grooving_similarity",
    ]
    assert all(getattr(stats, k)(C_SCALE) == v or math.isnan(v) for k, v in values.items())


def test_corpus_stats_ignores_nan_pieces() -> None:
    with_chords = melody([60, 62, 64, 66], chords=[(CMAJ7, 0, 4)])  # chord tones 2/4
    corpus = stats.corpus_stats([with_chords, C_SCALE])
    assert corpus["chord_tone_ratio"] == pytest.approx(0.5)
    assert corpus["note_count"] == pytest.approx(5.5)
    assert math.isnan(stats.corpus_stats([C_SCALE])["chord_tone_ratio"])
    assert all(math.isnan(v) for v in stats.corpus_stats([]).values())


def test_corpus_sized_workload_finds_every_piece() -> None:
    """A corpus-sized run (456 x 600 notes); its speed is measured in benchmarks, not asserted."""
    rng = np.random.default_rng(0)
    chords = [(CMAJ7 if b % 2 else G7, 4.0 * b, 4.0) for b in range(80)]
    scores = []
    for _ in range(456):
        steps = rng.integers(-5, 6, size=599)
        pitches = np.clip(64 + np.concatenate([[0], np.cumsum(steps)]), 30, 100).tolist()
        scores.append(melody(pitches, dur=0.5, chords=chords))
    corpus = stats.corpus_stats(scores)
    assert 0 < corpus["chord_tone_ratio"] < 1
    index = stats.IntervalIndex(scores)
    for sample in scores[:5]:
        assert stats.originality(sample, index).longest_run == 599  # each is in the corpus
