"""The value grammar: types, quantization, encoding, decoding and their round trips."""

from __future__ import annotations

import json
from fractions import Fraction
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jazzgen.music.chords import parse_chord, parse_progression
from jazzgen.music.score import ChordSpan, Note, Score
from jazzgen.music.values import ValuesTokenizer, note_type, parse_value, value_duration

TOK = ValuesTokenizer()


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def score(notes, changes: str = "", chords=()) -> Score:
    """Notes as (pitch, start, duration) over typed changes (or explicit spans)."""
    spans = tuple(parse_progression(changes)) if changes else tuple(chords)
    return Score(tuple(Note(p, s, d) for p, s, d in notes), spans)


def triples(s: Score) -> list[tuple[int, float, float]]:
    return [(n.pitch, n.start_beat, n.duration_beats) for n in s.notes]


def assert_round_trip(s: Score) -> None:
    """decode(encode(s)) gives the quantized notes, and encodes to the same values."""
    quantized, _ = TOK.quantize_score(s)
    values = TOK.encode(s)
    start = quantized.notes[0].pitch if quantized.notes else None
    decoded = TOK.decode(values, chords=s.chords, rng=rng(), start_pitch=start)
    assert triples(decoded) == triples(quantized)
    assert TOK.encode(decoded) == values


# -- types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pitch, symbol, kind",
    [
        (64, "C7", "C"),  # E: the third
        (70, "C7", "C"),  # Bb: the seventh
        (62, "C7", "S"),  # D: ninth, in C mixolydian
        (69, "C7", "S"),  # A: thirteenth
        (66, "C7", "A"),  # F#: outside the scale, a semitone under G
        (61, "C7", "A"),  # Db: a semitone over the root
        (63, "C7", "A"),  # Eb: the blue third, a semitone under E
        (70, "C", "X"),  # Bb over a C triad: not in C major, no chord tone a semitone away
        (61, "C7alt", "C"),  # b9 is a chord tone of the alt chord
        (67, "C7alt", "A"),  # the natural fifth is not in the altered scale
        (64, "NC", "X"),
    ],
)
def test_note_types(pitch, symbol, kind):
    assert note_type(pitch, parse_chord(symbol)) == kind


def test_no_chord_makes_every_note_x():
    assert {note_type(p, None) for p in range(60, 72)} == {"X"}


# -- value helpers and settings -----------------------------------------------------------


def test_parse_value_and_duration():
    assert parse_value("C,1/2,<-4,0>") == ("C", Fraction(1, 2), (-4, 0))
    assert parse_value("R,1") == ("R", Fraction(1), None)
    assert parse_value("S,1/3") == ("S", Fraction(1, 3), None)
    assert value_duration("A,3/2,<1,5>") == 1.5
    assert value_duration("<bos>") == 0.0
    for bad in ("<unk>", "<bos>", "R,1,<0,4>", "C,0", "C,1/2,<4,0>", "Q,1", "C,1/2,<1>"):
        with pytest.raises(ValueError):
            parse_value(bad)


def test_config_round_trips_through_json():
    custom = ValuesTokenizer(window=1, max_interval=7, max_duration_beats=2.0, low_pitch=40)
    for tok in (TOK, custom):
        config = json.loads(json.dumps(tok.config()))
        assert config["name"] == "values"
        assert ValuesTokenizer.from_config(config) == tok


@pytest.mark.parametrize(
    "settings",
    [{"window": -1}, {"max_interval": 3}, {"max_duration_beats": 0.01}, {"low_pitch": 60,
     "high_pitch": 65}, {"grid_per_beat": 0}],
)
def test_bad_settings_raise(settings):
    with pytest.raises(ValueError):
        ValuesTokenizer(**settings)


# -- quantization ----------------------------------------------------------------------


def test_onsets_snap_to_sixteenths_and_triplets():
    s = score([(60, 0.02, 0.1), (62, 0.3, 0.1), (64, 0.55, 0.1), (65, 0.9, 0.05)])
    q, report = TOK.quantize_score(s)
    assert [n.start_beat for n in q.notes] == [0.0, 1 / 3, 1 / 2, 5 / 6]
    assert report["notes"] == 4 and report["notes_dropped"] == 0
    assert report["max_shift_beats"] == pytest.approx(1 / 15)
    assert report["mean_abs_shift_beats"] == pytest.approx((0.02 + 1 / 30 + 0.05 + 1 / 15) / 4)


def test_legato_notes_fill_the_gap_and_short_ones_leave_a_rest():
    s = score([(60, 0, 0.6), (62, 1, 0.2), (64, 2, 0.5)])
    q, _ = TOK.quantize_score(s)
    # 0.6 of a 1-beat gap is legato; 0.2 snaps to 1/6 and leaves a rest; the last keeps 1/2.
    assert triples(q) == [(60, 0.0, 1.0), (62, 1.0, 1 / 6), (64, 2.0, 0.5)]
    assert TOK.encode(s) == ["X,1", "X,1/6,<0,4>", "R,5/6", "X,1/2,<0,4>"]


def test_detached_sixteenths_stay_sixteenths():
    # Sixteenths on 'e' and 'a' sounding under half their length: the snapped length (1/6) is
    # at least half the gap, so they are legato; a detached off-beat quarter leaves a rest.
    s = score([(60, 0.25, 0.12), (62, 0.5, 0.1), (64, 0.75, 0.2), (65, 2.0, 0.3)])
    q, _ = TOK.quantize_score(s)
    assert triples(q) == [(60, 0.25, 0.25), (62, 0.5, 0.25), (64, 0.75, 1 / 6), (65, 2.0, 1 / 3)]
    assert TOK.encode(s)[:4] == ["R,1/4", "X,1/4", "X,1/4,<0,4>", "X,1/6,<0,4>"]
    assert TOK.encode(s)[4] == "R,13/12"


def test_a_sixteenth_only_grid_snaps_triplets_away():
    tok = ValuesTokenizer(grid_per_beat=4)
    s = score([(60, 0, 1 / 3), (62, 1 / 3, 1 / 3), (64, 2 / 3, 1 / 3)], "C")
    assert tok.encode(s) == ["C,1/4", "S,1/2,<0,4>", "C,1/4,<0,4>"]


def test_notes_landing_on_one_onset_keep_the_longest():
    s = score([(60, 0.98, 0.02), (62, 1.01, 0.9), (64, 2.0, 0.5)])
    q, report = TOK.quantize_score(s)
    assert [n.pitch for n in q.notes] == [62, 64]
    assert report["notes_dropped"] == 1 and report["notes"] == 2


def test_tiny_notes_last_until_the_next_onset():
    q, _ = TOK.quantize_score(score([(60, 0, 0.01)]))
    assert triples(q) == [(60, 0.0, 1 / 6)]


def test_quantize_is_idempotent_on_a_solo_like_score():
    s = score([(60, 0.1, 0.3), (62, 0.4, 0.1), (64, 1.37, 2.2), (67, 4.8, 6.0), (65, 12.1, 0.2)])
    q, _ = TOK.quantize_score(s)
    again, report = TOK.quantize_score(q)
    assert again == q and report["max_shift_beats"] == 0.0


# -- encoding ---------------------------------------------------------------------------


def test_swing_eighths_and_leading_rest():
    # Triplet swing over Dm7 | G7: long-short eighths starting on beat 2.
    s = score([(62, 1, 2 / 3), (65, 5 / 3, 1 / 3), (69, 2, 2 / 3), (72, 8 / 3, 1 / 3)], "Dm7 | G7")
    assert TOK.encode(s) == ["R,1", "C,2/3", "C,1/3,<1,5>", "C,2/3,<2,6>", "C,1/3,<1,5>"]
    assert_round_trip(s)


def test_long_notes_and_rests_split_at_max_duration():
    s = score([(60, 9, 6), (64, 16, 1)], "C | C | C | C | C")
    assert TOK.encode(s) == ["R,4", "R,4", "R,1", "C,4", "R,3", "C,1,<2,6>"]
    assert_round_trip(s)


def test_intervals_are_from_the_previous_note_across_rests():
    s = score([(60, 0, 0.5), (67, 2, 0.5), (55, 4, 0.5)])
    assert TOK.encode(s) == ["X,1/2", "R,3/2", "X,1/2,<5,9>", "R,3/2", "X,1/2,<-14,-10>"]


@pytest.mark.parametrize("leap, window", [(19, "<5,9>"), (-13, "<-3,1>"), (12, "<10,14>"),
                                          (-24, "<-14,-10>"), (0, "<-2,2>")])
def test_leaps_fold_by_octaves_keeping_direction(leap, window):
    values = TOK.encode(score([(60, 0, 1), (60 + leap, 1, 1)]))
    assert values[1] == f"X,1,{window}"


def test_chord_changes_mid_bar_and_no_chord():
    # Bar 1: C7 then F7 on beat 3; bar 2: N.C. E over C7 is a chord tone, over F7 an approach
    # tone (a semitone under F); without a chord, X.
    s = score([(64, 0, 0.5), (64, 2, 1), (65, 3, 1), (64, 4, 1)], "C7 F7 | NC")
    assert [v.split(",")[0] for v in TOK.encode(s)] == ["C", "R", "A", "C", "X"]
    assert_round_trip(s)


def test_gaps_in_the_harmony_are_no_chord():
    spans = (ChordSpan(parse_chord("G7"), 2.0, 2.0),)
    s = score([(67, 0, 0.5), (67, 2, 1)], chords=spans)
    assert [v.split(",")[0] for v in TOK.encode(s)] == ["X", "R", "C"]
    assert_round_trip(s)


def test_empty_score_is_no_values():
    assert TOK.encode(score([])) == []
    assert TOK.decode([], rng=rng()).notes == ()


# -- decoding ---------------------------------------------------------------------------


def test_decode_skips_specials_and_is_deterministic():
    values = ["<bos>", "C,1/2", "S,1/2,<1,3>", "<unk>", "A,1,<-3,1>", "R,1", "C,1,<-2,2>", "<eos>"]
    chords = parse_progression("Cmaj7 | A7")
    a = TOK.decode(values, chords=chords, rng=rng(5))
    assert a == TOK.decode(values, chords=chords, rng=rng(5))
    assert [n.start_beat for n in a.notes] == [0.0, 0.5, 1.0, 3.0]
    assert a.chords == tuple(chords)


def test_decode_follows_types_and_windows_over_new_changes():
    values = TOK.encode(score([(60, 0, 1), (62, 1, 1), (64, 2, 1), (67, 3, 1)], "Cmaj7"))
    chords = parse_progression("Bb7")
    out = TOK.decode(values, chords=chords, rng=rng(1), start_pitch=58)
    assert out.notes[0].pitch == 58  # Bb: a chord tone, as the value asks
    for value, note in zip([v for v in values if v[0] != "R"], out.notes, strict=True):
        assert note_type(note.pitch, chords[0].chord) == value[0]
    for (a, b), value in zip(pairwise(out.notes), values[1:], strict=True):
        low, high = parse_value(value)[2]
        assert low <= b.pitch - a.pitch <= high


def test_first_note_without_start_pitch_sits_mid_range():
    out = TOK.decode(["C,1", "C,1,<0,0>"], chords=parse_progression("C"), rng=rng(3))
    assert abs(out.notes[0].pitch - 66) <= 6 and out.notes[0].pitch % 12 in (0, 4, 7)


def test_start_pitch_of_the_wrong_type_moves_to_the_nearest_fitting_pitch():
    out = TOK.decode(["C,1"], chords=parse_progression("C"), rng=rng(), start_pitch=62)
    assert out.notes[0].pitch in (60, 64)


def test_decode_stays_in_range_when_windows_climb():
    values = ["C,1/2"] + ["C,1/2,<10,14>"] * 20 + ["C,1/2,<-14,-10>"] * 20
    out = TOK.decode(values, chords=parse_progression("C7"), rng=rng(), start_pitch=60)
    assert all(48 <= n.pitch <= 84 for n in out.notes)


def test_impossible_type_falls_back_to_the_window():
    # A chord tone with no chord sounding: the window alone decides.
    out = TOK.decode(["X,1", "C,1,<3,7>"], rng=rng(), start_pitch=60)
    assert [n.pitch for n in out.notes] == [60, 65]


# -- properties -------------------------------------------------------------------------

SYMBOLS = ["C7", "Fmaj7", "Dm7", "G7alt", "Bbo7", "Am7b5", "Eb6", "NC", "F#m", "Bsus7"]
ALLOWED_TICKS = [b * 12 + k for b in range(12) for k in (0, 2, 3, 4, 6, 8, 9, 10)]


@st.composite
def changes(draw) -> tuple[ChordSpan, ...]:
    spans, beat = [], 0.0
    for symbol in draw(st.lists(st.sampled_from(SYMBOLS), max_size=8)):
        beat += draw(st.sampled_from([0.0, 0.0, 0.5, 1.0]))  # sometimes a gap: no chord
        length = draw(st.integers(1, 8)) / 2
        spans.append(ChordSpan(parse_chord(symbol), beat, length))
        beat += length
    return tuple(spans)


@st.composite
def grid_scores(draw) -> Score:
    """Monophonic scores with onsets on the grid, in range, leaps within an octave."""
    onsets = sorted(draw(st.lists(st.sampled_from(ALLOWED_TICKS), min_size=1, max_size=20,
                                  unique=True)))
    pitch, notes = draw(st.integers(48, 84)), []
    for i, tick in enumerate(onsets):
        gap = onsets[i + 1] - tick if i + 1 < len(onsets) else 72
        if i:
            pitch = min(84, max(48, pitch + draw(st.integers(-12, 12))))
        notes.append((pitch, tick / 12, min(draw(st.integers(1, 72)), gap) / 12))
    return score(notes, chords=draw(changes()))


@settings(max_examples=150, deadline=None)
@given(grid_scores())
def test_round_trip_on_grid_scores(s):
    quantized, report = TOK.quantize_score(s)
    assert report["notes_dropped"] == 0 and report["max_shift_beats"] == 0
    assert TOK.quantize_score(quantized)[0] == quantized
    assert_round_trip(s)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(48, 84), st.floats(0.01, 1.5), st.floats(0.01, 3.0)),
                min_size=1, max_size=20), changes())
def test_quantize_any_score(raw, chords):
    notes, beat = [], 0.0
    for pitch, step, length in raw:
        notes.append((pitch, beat, min(length, step)))
        beat += step
    s = score(notes, chords=chords)
    q, report = TOK.quantize_score(s)
    assert report["notes"] + report["notes_dropped"] == len(s.notes)
    assert TOK.quantize_score(q)[0] == q
    for note in q.notes:
        assert round(note.start_beat * 12) % 12 in (0, 2, 3, 4, 6, 8, 9, 10)
        assert note.start_beat * 12 == pytest.approx(round(note.start_beat * 12))
        assert 0 < note.duration_beats <= 4
    if all(abs(b.pitch - a.pitch) <= 12 for a, b in pairwise(q.notes)):
        assert_round_trip(s)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("CSAXR"), st.sampled_from(["1/6", "1/4", "1/3", "1",
                                                                   "5/2"]),
                          st.integers(-14, 14)), max_size=30), changes(), st.integers(0, 99))
def test_decode_any_values_in_range_and_deterministic(raw, chords, seed):
    values = [f"{k},{d}" + ("" if k == "R" else f",<{i - 2},{i + 2}>") for k, d, i in raw]
    a = TOK.decode(values, chords=chords, rng=rng(seed))
    assert a == TOK.decode(values, chords=chords, rng=rng(seed))
    assert all(48 <= n.pitch <= 84 for n in a.notes)
    assert sum(n.duration_beats for n in a.notes) <= sum(value_duration(v) for v in values) + 1e-9
