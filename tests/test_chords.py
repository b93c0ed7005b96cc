"""Chord symbols: WJD and lead-sheet spellings, chord-scales, progressions, recognition."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from jazzgen.errors import ChordParseError, JazzgenError
from jazzgen.music.chords import (
    TEMPLATES,
    chord_symbol_text,
    parse_chord,
    parse_progression,
    recognize_chord,
)

FIXTURES = Path(__file__).parent / "fixtures"
WJD_SYMBOLS = (FIXTURES / "wjd_chord_symbols.txt").read_text().split()

C, Db, D, Eb, E, F, Gb, G, Ab, A, Bb, B = range(12)


def test_fixture_holds_every_distinct_wjd_symbol():
    assert len(WJD_SYMBOLS) == len(set(WJD_SYMBOLS)) == 419


@pytest.mark.parametrize("symbol", WJD_SYMBOLS)
def test_every_wjd_symbol_parses_and_its_scale_holds_its_tones(symbol):
    chord = parse_chord(symbol)
    assert chord.symbol == symbol
    if symbol == "NC":
        assert chord.root is None
        return
    assert chord.pitch_classes[0] == chord.root
    assert set(chord.pitch_classes) <= set(chord.scale)
    assert chord.scale[0] == chord.root
    assert chord.bass in chord.pitch_classes
    # Canonical names parse back to the same tones.
    again = parse_chord(chord_symbol_text(chord))
    assert set(again.pitch_classes) == set(chord.pitch_classes) and again.bass == chord.bass


@pytest.mark.parametrize(
    "symbol, root, tones",
    [
        # WJD spellings
        ("Bb7", Bb, {Bb, D, F, Ab}),
        ("F-7", F, {F, Ab, C, Eb}),
        ("Ebj7", Eb, {Eb, G, Bb, D}),
        ("D79b", D, {D, Gb, A, C, Eb}),
        ("Fsus7", F, {F, Bb, C, Eb}),
        ("C-j7", C, {C, Eb, G, B}),
        ("Bbo", Bb, {Bb, Db, E}),
        ("Bbo7", Bb, {Bb, Db, E, G}),
        ("Bm7b5", B, {B, D, F, A}),
        ("C+", C, {C, E, Ab}),
        ("C+7", C, {C, E, Ab, Bb}),
        ("C6", C, {C, E, G, A}),
        ("C-6", C, {C, Eb, G, A}),
        ("C69", C, {C, E, G, A, D}),
        ("C79", C, {C, E, G, Bb, D}),
        ("C7913", C, {C, E, G, Bb, D, A}),
        ("C79#", C, {C, E, G, Bb, Eb}),
        ("C7911#", C, {C, E, G, Bb, D, Gb}),
        ("Bb79b13", Bb, {Bb, D, F, Ab, B, G}),
        ("Bb79b13b", Bb, {Bb, D, F, Ab, B, Gb}),
        ("E6911#", E, {E, Ab, B, Db, Gb, Bb}),
        ("Fsus7913", F, {F, Bb, C, Eb, G, D}),
        ("Cb7", B, {B, Eb, Gb, A}),
        # lead-sheet spellings
        ("Ebmaj7#11", Eb, {Eb, G, Bb, D, A}),
        ("Am7b5", A, {A, C, Eb, G}),
        ("F#m7", Gb, {Gb, A, Db, E}),
        ("Cmaj7", C, {C, E, G, B}),
        ("CM7", C, {C, E, G, B}),
        ("C∆7", C, {C, E, G, B}),
        ("C∆", C, {C, E, G, B}),
        ("Cmaj", C, {C, E, G}),
        ("Cm", C, {C, Eb, G}),
        ("Cmin7", C, {C, Eb, G, Bb}),
        ("C-7", C, {C, Eb, G, Bb}),
        ("Cdim7", C, {C, Eb, Gb, A}),
        ("C°7", C, {C, Eb, Gb, A}),
        ("Cø7", C, {C, Eb, Gb, Bb}),
        ("Caug", C, {C, E, Ab}),
        ("C7#9", C, {C, E, G, Bb, Eb}),
        ("C7b9", C, {C, E, G, Bb, Db}),
        ("C7(b9,#11)", C, {C, E, G, Bb, Db, Gb}),
        ("C7b5", C, {C, E, Gb, Bb}),
        ("C7#5", C, {C, E, Ab, Bb}),
        ("C13", C, {C, E, G, Bb, D, A}),
        ("C9", C, {C, E, G, Bb, D}),
        ("Cm9", C, {C, Eb, G, Bb, D}),
        ("Cmaj9", C, {C, E, G, B, D}),
        ("Cm(maj7)", C, {C, Eb, G, B}),
        ("C7sus4", C, {C, F, G, Bb}),
        ("Csus4", C, {C, F, G}),
        ("Csus2", C, {C, D, G}),
        ("Cadd9", C, {C, E, G, D}),
        ("C6/9", C, {C, E, G, A, D}),
        ("Bbm6", Bb, {Bb, Db, F, G}),
        ("Edim7", E, {E, G, Bb, Db}),
        ("bb7", Bb, {Bb, D, F, Ab}),
        ("f#m7", Gb, {Gb, A, Db, E}),
    ],
)
def test_spellings_give_the_right_pitch_classes(symbol, root, tones):
    chord = parse_chord(symbol)
    assert chord.root == root and chord.bass == root
    assert set(chord.pitch_classes) == tones
    assert chord.pitch_classes[0] == root
    intervals = [(pc - root) % 12 for pc in chord.pitch_classes]
    assert intervals == sorted(intervals)  # root first, then ascending intervals


def test_alt_chord_holds_guide_tones_and_altered_tensions():
    chord = parse_chord("C7alt")
    assert set(chord.pitch_classes) == {C, E, Bb, Db, Eb, Gb, Ab}
    assert chord.scale == (C, Db, Eb, E, Gb, Ab, Bb)  # the altered scale


def test_slash_chords_take_the_bass_and_it_sounds():
    assert parse_chord("C/E").bass == E
    assert set(parse_chord("C/E").pitch_classes) == {C, E, G}
    ab = parse_chord("Ab7/Gb")
    assert ab.root == Ab and ab.bass == Gb
    d_over_c = parse_chord("D/C")
    assert d_over_c.bass == C and C in d_over_c.pitch_classes
    assert set(d_over_c.pitch_classes) <= set(d_over_c.scale)


@pytest.mark.parametrize(
    "symbol, scale",
    [
        ("Cmaj7", "C D E F G A B"),
        ("C6", "C D E F G A B"),
        ("C", "C D E F G A B"),
        ("Ebmaj7#11", "Eb F G A Bb C D"),
        ("G7", "G A B C D E F"),
        ("D79b", "D Eb F Gb Ab A B C"),
        ("C7alt", "C Db Eb E Gb Ab Bb"),
        ("Dm7", "D E F G A B C"),
        ("Cm", "C D Eb F G A Bb"),
        ("Am7b5", "A Bb C D Eb F G"),
        ("Edim7", "E Gb G A Bb C Db Eb"),
        ("Bbm6", "Bb C Db Eb F G A"),
        ("C-j7", "C D Eb F G A B"),
        ("Caug", "C D E Gb Ab Bb"),
        ("Fsus7", "F G A Bb C D Eb"),
    ],
)
def test_chord_scales(symbol, scale):
    names = {"C": C, "Db": Db, "D": D, "Eb": Eb, "E": E, "F": F, "Gb": Gb, "G": G, "Ab": Ab,
             "A": A, "Bb": Bb, "B": B}
    assert parse_chord(symbol).scale == tuple(names[n] for n in scale.split())


@pytest.mark.parametrize("text", ["NC", "N.C.", "", "  n.c. ", "N.C"])
def test_no_chord_keeps_its_text(text):
    chord = parse_chord(text)
    assert chord.root is None and chord.bass is None
    assert chord.pitch_classes == () and chord.scale == ()
    assert chord.symbol == text


@pytest.mark.parametrize("symbol", ["H7", "Cxyz", "C7q", "7", "Bb/X", "Cmaj7#", "C#11#13x"])
def test_unknown_symbols_raise_naming_the_symbol(symbol):
    with pytest.raises(ChordParseError) as info:
        parse_chord(symbol)
    assert repr(symbol) in str(info.value) and info.value.symbol == symbol


# The two progressions of the project's chord check, with the guide tones it requires.
CHECK_PROGRESSIONS = [
    ("Bb7 | F-7 | Ebj7 | D79b | C7alt | Fsus7 | G-7 | NC",
     [{10, 2, 8}, {5, 8, 3}, {3, 7, 2}, {2, 6, 0}, {0, 4, 10}, {5, 10, 3}, {7, 10, 5}, set()]),
    ("Ebmaj7#11 | Am7b5 | F#m7 | C/E | Dm7 G7 | Cmaj7 | Bbm6 | Edim7 | N.C.",
     [{3, 7, 2}, {9, 0, 3, 7}, {6, 9, 4}, {0, 4, 7}, {2, 5, 0}, {7, 11, 5}, {0, 4, 11},
      {10, 1, 5, 7}, {4, 7, 10, 1}, set()]),
]


@pytest.mark.parametrize("text, wanted", CHECK_PROGRESSIONS)
def test_check_progressions_have_their_guide_tones(text, wanted):
    spans = parse_progression(text)
    assert len(spans) == len(wanted)
    for span, tones in zip(spans, wanted, strict=True):
        if tones:
            assert tones <= set(span.chord.pitch_classes), span.chord.symbol
        else:
            assert span.chord.root is None
    assert parse_progression(CHECK_PROGRESSIONS[1][0])[3].chord.bass == E


def test_progression_bars_split_evenly_and_are_contiguous():
    spans = parse_progression("| Bb7 |  Eb7 | Dm7   G7 | Cmaj7 |")
    assert [s.chord.symbol for s in spans] == ["Bb7", "Eb7", "Dm7", "G7", "Cmaj7"]
    assert [(s.start_beat, s.duration_beats) for s in spans] == [
        (0, 4), (4, 4), (8, 2), (10, 2), (12, 4)]
    for a, b in pairwise(spans):
        assert a.end_beat == b.start_beat


def test_progression_without_bars_is_one_chord_per_bar():
    spans = parse_progression("Dm7 G7  Cmaj7", beats_per_bar=3.0)
    assert [(s.chord.symbol, s.start_beat, s.duration_beats) for s in spans] == [
        ("Dm7", 0, 3), ("G7", 3, 3), ("Cmaj7", 6, 3)]


@pytest.mark.parametrize("text", ["", "   ", "| |", "Dm7 | | G7"])
def test_empty_progressions_and_bars_raise(text):
    with pytest.raises(JazzgenError, match="chord"):
        parse_progression(text)


def test_progression_with_unknown_chord_names_it():
    with pytest.raises(ChordParseError, match="Xq7"):
        parse_progression("Dm7 | Xq7")


BASIC = [name + suffix for name in ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
         for suffix in TEMPLATES]


@pytest.mark.parametrize("symbol", BASIC)
def test_recognize_round_trip(symbol):
    chord = parse_chord(symbol)
    rng = np.random.default_rng(sum(map(ord, symbol)))
    # A voicing over two octaves: every tone sounds with its own duration.
    weights = {pc + 12 * int(rng.integers(0, 2)): float(rng.uniform(0.5, 1.5))
               for pc in chord.pitch_classes}
    found = recognize_chord(weights, bass_pc=chord.root)
    assert set(found.pitch_classes) == set(chord.pitch_classes)
    assert found.root == chord.root  # the bass settles C6/Am7, dim7 and aug
    without_bass = recognize_chord(weights)
    assert set(without_bass.pitch_classes) == set(chord.pitch_classes)


def test_recognize_names_canonically():
    def weights(*pcs):
        return [1.0 if pc in pcs else 0.0 for pc in range(12)]

    assert recognize_chord(weights(D, F, A, C), D).symbol == "Dm7"
    assert recognize_chord(weights(G, B, D, F), G).symbol == "G7"
    assert recognize_chord(weights(C, E, G, B), C).symbol == "Cmaj7"
    assert recognize_chord(weights(Gb, A, C, E), Gb).symbol == "F#m7b5"
    assert recognize_chord(weights(C, E, Bb)).symbol == "C7"  # shell voicing, no fifth
    assert recognize_chord(weights(C, E, G), E).symbol == "C/E"


def test_recognize_ignores_a_faint_passing_note_and_nothing_is_none():
    weights = {C: 2.0, E: 2.0, G: 2.0, B: 2.0, D: 0.2}
    assert recognize_chord(weights, C).symbol == "Cmaj7"
    assert recognize_chord({}) is None
    assert recognize_chord([0.0] * 12, C) is None


def test_canonical_text():
    assert chord_symbol_text(parse_chord("D79b")) == "D7(b9)"
    assert chord_symbol_text(parse_chord("F-7")) == "Fm7"
    assert chord_symbol_text(parse_chord("Ebj7")) == "Ebmaj7"
    assert chord_symbol_text(parse_chord("C/E")) == "C/E"
    assert chord_symbol_text(parse_chord("NC")) == "N.C."
