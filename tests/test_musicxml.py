"""MusicXML lead sheets: melody, chord symbols in jazzgen's spelling, repeats, pickups, meters."""

from pathlib import Path

import pytest

from jazzgen.errors import InputError
from jazzgen.music.musicxml import lead_sheet_spelling, read_musicxml
from jazzgen.music.pipeline import read_score

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "leadsheets" / "openewld-sample"


def harmony(step: str, kind: str, alter: int = 0, text: str | None = None, bass: str = "",
            degrees: tuple = ()) -> str:
    """A MusicXML <harmony> element."""
    xml = f"<harmony><root><root-step>{step}</root-step>"
    xml += f"<root-alter>{alter}</root-alter>" if alter else ""
    xml += "</root>" + (f'<kind text="{text}">' if text is not None else "<kind>") + kind + "</kind>"
    for value, alt, kind_ in degrees:
        xml += (f"<degree><degree-value>{value}</degree-value><degree-alter>{alt}</degree-alter>"
                f"<degree-type>{kind_}</degree-type></degree>")
    if bass:
        xml += f"<bass><bass-step>{bass}</bass-step></bass>"
    return xml + "</harmony>"


def note(step: str, octave: int, duration: int, alter: int = 0, tie: str = "", chord: bool = False,
         rest: bool = False) -> str:
    """A MusicXML <note>; `duration` in divisions (here 2 per quarter)."""
    xml = "<note>" + ("<chord/>" if chord else "")
    if rest:
        xml += "<rest/>"
    else:
        xml += f"<pitch><step>{step}</step>" + (f"<alter>{alter}</alter>" if alter else "")
        xml += f"<octave>{octave}</octave></pitch>"
    xml += f"<duration>{duration}</duration>"
    xml += f'<tie type="{tie}"/>' if tie else ""
    return xml + "</note>"


def lead_sheet(measures: list[str], time: tuple[int, int] = (4, 4), tempo: float | None = None) -> str:
    """A one-part score-partwise document; the first measure carries the attributes."""
    head = (f"<attributes><divisions>2</divisions><time><beats>{time[0]}</beats>"
            f"<beat-type>{time[1]}</beat-type></time><clef><sign>G</sign><line>2</line></clef></attributes>")
    if tempo:
        head += f'<direction placement="above"><direction-type><metronome><beat-unit>quarter</beat-unit>' \
                f'<per-minute>{tempo:g}</per-minute></metronome></direction-type><sound tempo="{tempo:g}"/></direction>'
    body = ""
    for i, content in enumerate(measures):
        number = 0 if i == 0 and content.startswith("<!--pickup-->") else i + 1
        implicit = ' implicit="yes"' if number == 0 else ""
        body += f'<measure number="{number}"{implicit}>' + (head if i == 0 else "") + content + "</measure>"
    return ('<?xml version="1.0" encoding="UTF-8"?><score-partwise version="3.1"><part-list>'
            '<score-part id="P1"><part-name>Lead</part-name></score-part></part-list>'
            f'<part id="P1">{body}</part></score-partwise>')


def write(tmp_path: Path, xml: str, name: str = "tune.musicxml") -> Path:
    path = tmp_path / name
    path.write_text(xml, encoding="utf-8")
    return path


def test_flat_roots_pickup_ties_and_chords_in_the_melody(tmp_path):
    pickup = "<!--pickup-->" + note("G", 4, 2)  # one quarter before the first bar
    bar1 = (harmony("B", "dominant", alter=-1, text="7") + note("F", 4, 4, tie="start")
            + note("A", 4, 2) + note("C", 5, 2, chord=True) + note("B", 4, 2, alter=-1))
    bar2 = note("F", 4, 4, tie="stop") + harmony("E", "minor-seventh", alter=-1, text="m7") + note("G", 4, 4)
    score = read_musicxml(write(tmp_path, lead_sheet([pickup, bar1 + "", bar2], tempo=150)))
    # bar 1 starts at beat 4: the pickup note sits on beat 3, so bar lines stay where they are
    assert score.meta["pickup_beats"] == 3.0
    assert [(n.pitch, n.start_beat) for n in score.notes][:2] == [(67, 3.0), (65, 4.0)]
    # C5 over A4 at one onset: the highest stays; the tie across the bar line is one note
    assert (72, 6.0) in [(n.pitch, n.start_beat) for n in score.notes]
    tied = [n for n in score.notes if n.start_beat == 7.0]
    assert tied and tied[0].pitch == 70 and tied[0].duration_beats == 1.0
    f_notes = [n for n in score.notes if n.pitch == 65]
    assert f_notes[0].duration_beats == 2.0
    assert [(c.chord.symbol, c.chord.root, c.start_beat) for c in score.chords] == [
        ("Bb7", 10, 4.0), ("Ebm7", 3, 10.0)]
    assert score.tempo_qpm == 150.0 and score.time_signature == (4, 4)
    assert score.meta["chord_source"] == "chord symbols"


def test_two_symbols_over_one_rest_share_the_bar_and_odd_kinds_are_respelled(tmp_path):
    bar1 = (harmony("D", "minor-seventh", text="m7") + harmony("G", "dominant", text="7")
            + note("", 0, 8, rest=True))
    bar2 = (harmony("C", "augmented-seventh", text="7+") + note("E", 5, 4)
            + harmony("A", "dominant", text="7", degrees=(("5", "-1", "alter"),)) + note("G", 4, 4))
    bar3 = harmony("F", "major", bass="A") + note("F", 4, 8)
    score = read_musicxml(write(tmp_path, lead_sheet([bar1, bar2, bar3])))
    spans = [(c.chord.symbol, c.start_beat, c.duration_beats) for c in score.chords]
    assert spans == [("Dm7", 0.0, 2.0), ("G7", 2.0, 2.0), ("C7#5", 4.0, 2.0), ("A7(b5)", 6.0, 2.0),
                     ("F/A", 8.0, 4.0)]
    assert set(score.chords[2].chord.pitch_classes) == {0, 4, 8, 10}
    assert set(score.chords[3].chord.pitch_classes) == {9, 1, 3, 7}
    assert score.tempo_qpm == 120.0  # no tempo mark


def test_repeats_are_expanded(tmp_path):
    bar1 = ('<barline location="left"><bar-style>heavy-light</bar-style><repeat direction="forward"/></barline>'
            + harmony("C", "major") + note("C", 5, 8))
    bar2 = (harmony("G", "dominant", text="7") + note("D", 5, 8)
            + '<barline location="right"><bar-style>light-heavy</bar-style><repeat direction="backward"/></barline>')
    bar3 = harmony("C", "major") + note("E", 5, 8)
    score = read_musicxml(write(tmp_path, lead_sheet([bar1, bar2, bar3])))
    assert [n.pitch for n in score.notes] == [72, 74, 72, 74, 76]
    assert [c.chord.symbol for c in score.chords] == ["C", "G7", "C", "G7", "C"]
    assert score.meta["repeats"] == "expanded" and score.meta["bars"] == 5


def test_a_lead_sheet_without_symbols_gets_chords_from_its_melody(tmp_path):
    bar1 = note("C", 5, 2) + note("E", 5, 2) + note("G", 5, 4)
    bar2 = note("D", 5, 2) + note("F", 5, 2) + note("A", 5, 4)
    score = read_musicxml(write(tmp_path, lead_sheet([bar1, bar2], time=(4, 4))))
    assert score.meta["chord_source"] == "inferred from melody"
    assert [(c.chord.symbol, c.start_beat, c.duration_beats) for c in score.chords] == [
        ("C", 0.0, 4.0), ("Dm", 4.0, 4.0)]


@pytest.mark.parametrize("figure, kind, kind_text, spelled", [
    ("B-7", "dominant-seventh", "7", "Bb7"),
    ("E-7/A alter b5", "dominant-seventh", "7", "Eb7(b5)/A"),
    ("B7 add b9", "dominant-seventh", "7b9", "B7(addb9)"),
    ("G7+", "augmented-seventh", "7+", "G7#5"),
    ("Gsus/C add 7", "suspended-fourth", "sus", "Gsus(add7)/C"),
    ("C", "augmented-ninth", "9+", "C9#5"),
    ("E", "minor-major", "mMaj7", "Emmaj7"),
    ("F#ø7", "half-diminished", "m7b5", "F#ø7"),
])
def test_music21_figures_are_respelled_for_our_parser(figure, kind, kind_text, spelled):
    assert lead_sheet_spelling(figure, kind, kind_text) == spelled


def test_unusable_files_are_named_with_a_reason(tmp_path):
    garbage = tmp_path / "garbage.mxl"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError) as e:
        read_score(garbage)
    assert e.value.reason == "unreadable MusicXML"
    rests = write(tmp_path, lead_sheet([note("", 0, 8, rest=True)]), "rests.xml")
    with pytest.raises(InputError) as e:
        read_score(rests)
    assert e.value.reason == "no notes"


def test_the_bundled_sample_reads_in_every_meter():
    found = {p.name: read_musicxml(p) for p in sorted(SAMPLE.glob("*.mxl"))}
    assert len(found) == 6
    meters = {name: s.time_signature for name, s in found.items()}
    assert meters["I_Saw_Three_Ships.mxl"] == (6, 8) and meters["Toyland.mxl"] == (3, 4)
    assert meters["Tiger_Rag.mxl"] == (2, 2)
    shenandoah = found["Shenandoah.mxl"]
    assert shenandoah.meta["pickup_beats"] == 3.0 and shenandoah.notes[0].start_beat == 3.0
    assert found["Yesterdays.mxl"].meta["repeats"] == "expanded"
    assert found["Toyland.mxl"].meta["repeats"].startswith("not expanded")
    for score in found.values():
        assert score.notes and score.chords and score.meta["chord_source"] == "chord symbols"
