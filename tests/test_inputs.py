"""Any corpus through the CLI: band arrangements with drums, melody-only solos, any meter.

The files are made here: three band arrangements (drums on channel 10, bass, piano comping,
a saxophone melody, a section-marker track) and three melody-only solos (4/4 with a pickup, 3/4,
6/8 with a tempo change). Both folders must go through preprocess -> train -> generate.
"""

from __future__ import annotations

import json
from pathlib import Path

import mido
import pytest
from click.testing import CliRunner

from jazzgen.cli import main
from jazzgen.music.midi_io import read_midi
from jazzgen.music.score import Note
from jazzgen.music.tracks import chords_from_melody, score_from_midi
from jazzgen.music.values import ValuesTokenizer

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "pipelines" / "tiny.toml")
TPB = 480
# (bass root, chord tones) per bar: ii-V-I-VI in three keys
CHANGES = {
    "C": [(38, (53, 57, 60, 64)), (43, (53, 59, 62, 65)), (36, (52, 55, 59, 64)), (45, (55, 61, 64, 67))],
    "F": [(43, (58, 62, 65, 69)), (36, (58, 64, 67, 70)), (41, (57, 60, 64, 67)), (38, (60, 66, 69, 72))],
    "Bb": [(36, (51, 55, 58, 62)), (41, (51, 57, 60, 63)), (46, (50, 53, 57, 62)), (43, (53, 59, 62, 65))],
}

pytestmark = pytest.mark.slow


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def track(name: str, events: list[tuple[int, mido.Message]], program: int | None = None,
          channel: int = 0) -> mido.MidiTrack:
    """A named track from (absolute tick, message) pairs."""
    out = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    if program is not None:
        out.append(mido.Message("program_change", channel=channel, program=program, time=0))
    now = 0
    for tick, msg in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
        out.append(msg.copy(time=tick - now))
        now = tick
    return out


def notes_on(channel: int, notes: list[tuple[int, float, float]], velocity: int = 80) -> list:
    """(pitch, start beat, length in beats) -> note on/off events."""
    events = []
    for pitch, start, length in notes:
        on, off = round(start * TPB), round((start + length) * TPB)
        events += [(on, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)),
                   (off, mido.Message("note_off", channel=channel, note=pitch, velocity=0))]
    return events


def sax_line(key_shift: int, bars: int, beats_per_bar: int = 4) -> list[tuple[int, float, float]]:
    """An eighth-note line with a few longer notes, around the middle of the sax range."""
    scale = [0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2]
    line, beat, i = [], 0.0, 0
    while beat < bars * beats_per_bar - 0.5:
        length = 1.0 if i % 7 == 6 else 0.5
        line.append((64 + key_shift + scale[i % len(scale)], beat, length * 0.9))
        beat += length
        i += 1
    return line


def band_file(path: Path, key: str, sax_name: str, meter: tuple[int, int] = (4, 4),
              choruses: int = 2) -> None:
    """A band arrangement: conductor, section markers, drums, bass, piano, saxophone."""
    changes = CHANGES[key] * choruses
    beats = meter[0] * 4 // meter[1]
    shift = {"C": 0, "F": 5, "Bb": -2}[key]
    conductor = track("conductor", [
        (0, mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1])),
        (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(140))),
    ])
    sections = track("sections", [(round(b * 4 * beats * TPB), mido.MetaMessage("marker", text=t))
                                  for b, t in enumerate(["A", "B"][:choruses])])
    drums = track("Drums", notes_on(9, [(42, i * 0.5, 0.1) for i in range(len(changes) * beats * 2)]
                                    + [(36, float(i), 0.1) for i in range(0, len(changes) * beats, 2)]),
                  program=0, channel=9)
    bass = track("Bass", notes_on(1, [(root, bar * beats + b, 0.9) for bar, (root, _) in enumerate(changes)
                                      for b in range(beats)]), program=33, channel=1)
    piano = track("Piano", notes_on(2, [(p, bar * beats + 0.0, beats - 0.1)
                                        for bar, (_, tones) in enumerate(changes) for p in tones]),
                  program=0, channel=2)
    sax = track(sax_name, notes_on(3, sax_line(shift, len(changes), beats), 100), program=65, channel=3)
    mid = mido.MidiFile(type=1, ticks_per_beat=TPB)
    mid.tracks += [conductor, sections, drums, bass, piano, sax]
    mid.save(path)


def solo_file(path: Path, meter: tuple[int, int], pickup_beats: float = 0.0,
              tempo_change: bool = False, humanize: float = 0.0) -> None:
    """A melody alone (one track, no chords), optionally starting after a pickup rest."""
    beats = meter[0] * 4 // meter[1]
    line = [(p, s + pickup_beats + (humanize if i % 3 == 1 else 0.0), d)
            for i, (p, s, d) in enumerate(sax_line(0, 6, beats))]
    meta = [(0, mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1])),
            (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100)))]
    if tempo_change:
        meta.append((8 * TPB, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(130))))
    mid = mido.MidiFile(type=1, ticks_per_beat=TPB)
    mid.tracks.append(track("tune", meta + notes_on(0, line), program=66))
    mid.save(path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inputs")
    band, solos = tmp / "band", tmp / "solos"
    band.mkdir()
    solos.mkdir()
    band_file(band / "blues_in_c.mid", "C", "Tenor Sax")
    band_file(band / "f_tune.mid", "F", "Alto Sax", meter=(3, 4))
    band_file(band / "bb_tune.mid", "Bb", "Track 6")  # no telling name: the line is found anyway
    solo_file(solos / "pickup.mid", (4, 4), pickup_beats=1.0, humanize=0.03)
    solo_file(solos / "waltz.mid", (3, 4))
    solo_file(solos / "jig.mid", (6, 8), tempo_change=True)
    return tmp


def test_band_arrangements_take_the_sax_and_the_piano_chords(folders):
    for name, sax in (("blues_in_c.mid", "Tenor Sax"), ("bb_tune.mid", "Track 6")):
        path = folders / "band" / name
        score = score_from_midi(read_midi(path), path)
        assert score.meta["melody_track"] == sax
        # the section letters are not chords: the harmony comes from the bass and piano notes
        assert score.meta["chord_source"].startswith("notes:")
        symbols = [s.chord.symbol for s in score.chords]
        assert "A" not in symbols[:1] and any(s.startswith("Dm7") or s.startswith("Cm7") for s in symbols)


def test_melody_only_files_get_chords_inferred_per_bar(folders):
    path = folders / "solos" / "waltz.mid"
    score = score_from_midi(read_midi(path), path)
    assert score.meta["chord_source"] == "inferred from melody"
    assert score.time_signature == (3, 4)
    assert all(s.start_beat % 3 == 0 and s.duration_beats % 3 == 0 for s in score.chords)
    jig = score_from_midi(read_midi(folders / "solos" / "jig.mid"), "jig.mid")
    assert jig.time_signature == (6, 8) and jig.tempo_qpm == pytest.approx(100)
    assert [(b, round(q, 3)) for b, q in jig.tempo_changes] == [(8.0, 130.0)]


def test_chords_from_melody_are_triads_or_sevenths_held_over_empty_bars():
    notes = [Note(60, 0, 1), Note(64, 1, 1), Note(67, 2, 2),  # C E G
             Note(62, 8, 1), Note(65, 9, 1), Note(69, 10, 1), Note(72, 11, 1)]  # D F A C, bar 2
    spans = chords_from_melody(notes, 4.0)
    assert [(s.chord.symbol, s.start_beat, s.duration_beats) for s in spans] == [
        ("C", 0.0, 8.0), ("Dm7", 8.0, 4.0)]


def test_band_folder_through_preprocess_train_generate(folders):
    out = folders / "band-out"
    r = invoke("preprocess", folders / "band", "-o", out / "corpus", "-v")
    assert r.exit_code == 0, r.output
    assert "3 kept" in r.output
    assert "melody track 'Tenor Sax'" in r.output and "best of" in r.output  # which track, and why
    assert "melody tracks: " in r.output and "timing moved: mean 0.000 beats" in r.output
    manifest = json.loads((out / "corpus" / "manifest.json").read_text())
    assert all(row["melody_reason"] for row in manifest["kept"])
    r = invoke("train", out / "corpus", "-o", out / "run", "--pipeline", TINY, "--epochs", 1)
    assert r.exit_code == 0, r.output
    r = invoke("generate", out / "run", "-o", out / "solo.mid", "--bars", 4, "--chords", "Dm7 G7 | Cmaj7")
    assert r.exit_code == 0, r.output
    assert read_midi(out / "solo.mid").tracks


def test_melody_track_by_name_or_index(folders):
    path = folders / "band" / "bb_tune.mid"
    tracks = read_midi(path).tracks
    piano = next(t.index for t in tracks if t.name == "Piano")
    for choice, expected in (("piano", "Piano"), (f"#{piano}", "Piano"), (str(piano), "Piano")):
        r = invoke("preprocess", path, "-o", folders / f"pick-{choice}", "--melody-track", choice, "-v")
        assert r.exit_code == 0, r.output
        assert f"melody track '{expected}' (#{piano}): chosen by the user" in r.output
    r = invoke("preprocess", path, "-o", folders / "pick-none", "--melody-track", "banjo")
    assert r.exit_code == 1 and "no melody found" in r.output and "'Piano'" in r.output


def test_melody_only_folder_through_preprocess_train_generate(folders):
    out = folders / "solos-out"
    r = invoke("preprocess", folders / "solos", "-o", out / "corpus")
    assert r.exit_code == 0, r.output
    assert "3 kept" in r.output and "chords from: inferred from melody 3" in r.output
    timing = next(line for line in r.output.splitlines() if line.startswith("timing moved"))
    mean, worst = (float(word) for word in timing.replace(",", " ").split() if word[0].isdigit())
    assert 0 < mean < worst and abs(worst - 0.03) < 0.002  # the humanized notes moved back
    pieces = [json.loads(line) for line in (out / "corpus" / "pieces.jsonl").read_text().splitlines()]
    assert sorted(tuple(p["time_signature"]) for p in pieces) == [(3, 4), (4, 4), (6, 8)]
    r = invoke("train", out / "corpus", "-o", out / "run", "--pipeline", TINY, "--epochs", 1)
    assert r.exit_code == 0, r.output
    r = invoke("generate", out / "run", "-o", out / "solo.mid", "--bars", 4, "--seed", 3)
    assert r.exit_code == 0, r.output
    assert read_midi(out / "solo.mid").tracks
    # --primer: the solo starts with the primer's (quantized) melody, then goes on over the changes
    primer = folders / "solos" / "pickup.mid"
    r = invoke("generate", out / "run", "-o", out / "primed.mid", "--primer", primer,
               "--chords", "C | Am7 | Dm7 | G7", "--bars", 12, "--seed", 3)
    assert r.exit_code == 0, r.output
    start = ValuesTokenizer().quantize_score(score_from_midi(read_midi(primer), primer))[0].notes
    solo = score_from_midi(read_midi(out / "primed.mid"), out / "primed.mid")
    assert [(n.pitch, n.start_beat) for n in solo.notes[: len(start)]] == [
        (n.pitch, n.start_beat) for n in start]
    assert len(solo.notes) > len(start) and solo.notes[-1].end_beat <= 48.0 + 1e-6
