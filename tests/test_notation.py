"""The MusicXML lead sheet, re-read with music21: bars, meters, notes, ties, tuplets, chord symbols."""

from __future__ import annotations

from fractions import Fraction

import pytest

import jazzgen
from jazzgen.music.chords import parse_chord
from jazzgen.music.notation import INSTALL_HINT, engrave, engravers, harmony_xml, key_fifths, notation_notes
from jazzgen.music.score import Note

music21 = pytest.importorskip("music21")

CHART = "title: Test Tune\nkey: Bb\n|: Bb7 | Eb7 | Bb7 Gm7 | Cm7 F7 :| 3/4 A7alt | Dm7 . G7 | N.C. | 4/4 C/E | Db7#11 |"


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    song = jazzgen.generate(chords=CHART, seed=5, band="none")
    path = song.write_musicxml(tmp_path_factory.mktemp("xml") / "song.musicxml")
    return song, music21.converter.parse(str(path)).parts[0]


def test_bars_meters_title_and_key(sheet):
    song, part = sheet
    measures = list(part.getElementsByClass("Measure"))
    assert len(measures) == song.bars == 13
    meters = [(m.number, ts.ratioString) for m in measures for ts in m.getElementsByClass("TimeSignature")]
    assert meters == [(1, "4/4"), (9, "3/4"), (12, "4/4")]
    key = next(part.recurse().getElementsByClass("KeySignature"))
    assert key.sharps == -2


def test_notes_are_the_generated_solo_with_clean_rhythms(sheet):
    song, part = sheet
    wanted = notation_notes(song.solo.notes, song.chart.bar_starts(), song.chart.total_beats)
    got = [n for n in part.stripTies().flatten().notes if not isinstance(n, music21.harmony.ChordSymbol)]
    assert [n.pitch.midi for n in got] == [p for _, _, p in wanted]
    for n, (start, end, _) in zip(got, wanted):
        assert Fraction(n.offset).limit_denominator(48) == start
        assert Fraction(n.quarterLength).limit_denominator(48) == end - start
    # Every onset and length is a multiple of a sixteenth or of a sixteenth triplet, never a 1/12.
    for n in part.flatten().notesAndRests:
        for t in (Fraction(n.offset).limit_denominator(48), Fraction(n.quarterLength).limit_denominator(48)):
            assert (t * 4).denominator == 1 or (t * 6).denominator == 1, t
    # Most generated notes keep their onset (the rest moved by less than a sixteenth triplet). The
    # conditioned model plays runs that mix sixteenths and sixteenth triplets inside one beat
    # (onsets 1/2, 2/3, 3/4, 5/6); one readable grid per beat merges some of those: 98 of 110 here.
    assert len(wanted) >= 0.85 * len(song.solo.notes)


def test_chord_symbols_above_the_staff(sheet):
    song, part = sheet
    symbols = list(part.flatten().getElementsByClass("Harmony"))
    spans = [s for s in song.solo.chords]
    assert len(symbols) == len(spans)
    for cs, span in zip(symbols, spans):
        assert Fraction(cs.offset).limit_denominator(48) == Fraction(span.start_beat).limit_denominator(48)
        if span.chord.root is None:
            assert isinstance(cs, music21.harmony.NoChord)
            continue
        assert cs.root().pitchClass == span.chord.root
        assert cs.bass().pitchClass == span.chord.bass
        tones = {p.pitchClass for p in cs.pitches}
        assert tones == set(span.chord.pitch_classes), (cs.figure, span.chord.symbol)


def test_rehearsal_marks_at_choruses():
    song = jazzgen.generate(chords="| C7 | F7 |", bars=6, seed=0, band="none")
    text = song.musicxml()
    assert text.count("<rehearsal>") == 3 and "Chorus 3" in text


def test_notation_grid_picks_triplets_or_sixteenths_per_beat():
    notes = [Note(60, 0, 1 / 3), Note(62, 1 / 3, 1 / 3), Note(64, 2 / 3, 1 / 3),  # a triplet
             Note(65, 1, 0.25), Note(67, 1.5 + 1 / 12, 0.25),  # a 1/12 late sixteenth snaps back
             Note(69, 2, 0.4), Note(71, 2.5, 0.5)]  # a note cut short is written up to the next
    out = notation_notes(notes, [0.0], 4.0)
    assert [(s, e) for s, e, _ in out] == [
        (0, Fraction(1, 3)), (Fraction(1, 3), Fraction(2, 3)), (Fraction(2, 3), 1),
        (1, Fraction(5, 4)), (Fraction(3, 2), 2), (2, Fraction(5, 2)), (Fraction(5, 2), 3)]


def test_harmony_and_key_helpers():
    assert key_fifths("Bb") == (-2, "major") and key_fifths("Cm") == (-3, "minor") and key_fifths("F#") == (6, "major")
    xml = harmony_xml(parse_chord("Db7911#"))
    assert "<root-step>D</root-step><root-alter>-1</root-alter>" in xml and 'text="9#11"' in xml


@pytest.mark.skipif(bool(engravers()), reason="an engraver is installed: the missing-engraver message is not shown")
def test_engraving_without_an_engraver_says_what_to_install(tmp_path):
    xml = jazzgen.generate(chords="C7", seed=0, band="none").write_musicxml(tmp_path / "a.musicxml")
    with pytest.raises(jazzgen.errors.JazzgenError, match="apt-get install"):
        engrave(xml, tmp_path / "a.pdf")
    assert "verovio" in INSTALL_HINT


@pytest.mark.skipif(not engravers(), reason="no engraver installed (MuseScore, LilyPond or verovio)")
def test_engraving_makes_a_picture(tmp_path):
    xml = jazzgen.generate(chords="C7 | F7", seed=0, band="none").write_musicxml(tmp_path / "a.musicxml")
    fastest = "verovio" if "verovio" in engravers() else None  # seconds, where the others take ten
    assert engrave(xml, tmp_path / "a.svg", fastest) in engravers()
    assert (tmp_path / "a.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


@pytest.mark.slow
@pytest.mark.skipif(not [e for e in engravers() if e != "verovio"], reason="no PDF engraver (MuseScore or LilyPond)")
def test_engraving_a_pdf(tmp_path):
    xml = jazzgen.generate(chords="C7 | F7", seed=0, band="none").write_musicxml(tmp_path / "a.musicxml")
    engrave(xml, tmp_path / "a.pdf")
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")


def test_slash_chords_keep_their_kind():
    assert "<kind text=\"\">major</kind><bass><bass-step>E</bass-step>" in harmony_xml(parse_chord("C/E"))
    assert "<degree-value>9</degree-value>" in harmony_xml(parse_chord("C/D"))  # D is added


@pytest.mark.parametrize("meter", ["13/16", "7/8", "5/4", "6/8"])
def test_odd_meters_write_every_bar_in_full(tmp_path, meter):
    # Bars that end off the beat (13/16) and chord changes inside triplet beats leave lengths no
    # single note type writes (1/24 beat ...): they must be written as sums, never crash the writer.
    song = jazzgen.generate(chords=f"{meter} C7 | F7 | Bb7 | Am7 D7", seed=1, band="none", bars=8)
    part = music21.converter.parse(str(song.write_musicxml(tmp_path / "odd.musicxml"))).parts[0]
    num, den = (int(x) for x in meter.split("/"))
    bar_beats = Fraction(4 * num, den)
    measures = list(part.getElementsByClass("Measure"))
    assert len(measures) == 8
    assert all(Fraction(m.duration.quarterLength).limit_denominator(48) == bar_beats for m in measures)
    wanted = notation_notes(song.solo.notes, song.chart.bar_starts(), song.chart.total_beats)
    got = [n for n in part.stripTies().flatten().notes if not isinstance(n, music21.harmony.ChordSymbol)]
    assert [n.pitch.midi for n in got] == [p for _, _, p in wanted]
