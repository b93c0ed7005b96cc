"""score_from_midi: picking the melody of band files and finding their chords."""

from __future__ import annotations

import mido
import pretty_midi
import pytest

from jazzgen.errors import InputError
from jazzgen.music.midi_io import read_midi
from jazzgen.music.score import Note
from jazzgen.music.tracks import make_monophonic, score_from_midi

BEAT_S = 0.5  # 120 qpm: a beat is half a second
II_V_I = [(38, (53, 57, 60, 64)), (43, (53, 59, 62, 65)), (36, (52, 55, 59, 64))]  # Dm7 G7 Cmaj7


def instrument(program, name, notes, is_drum=False):
    """An instrument from (pitch, start_beat, end_beat) triples."""
    inst = pretty_midi.Instrument(program, is_drum=is_drum, name=name)
    inst.notes = [pretty_midi.Note(90, p, s * BEAT_S, e * BEAT_S) for p, s, e in notes]
    return inst


def line(first_pitch=67, n=24):
    """A monophonic eighth-note line in the saxophone register."""
    return [(first_pitch + (i * 5) % 9, i * 0.5, i * 0.5 + 0.45) for i in range(n)]


def comping():
    """Block chords, four beats each, over ii-V-I, with the bass in the same track."""
    notes = []
    for bar, (bass, upper) in enumerate(II_V_I):
        notes += [(p, bar * 4, bar * 4 + 3.9) for p in (bass, *upper)]
    return notes


def write(tmp_path, *instruments, name="band.mid"):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.instruments += list(instruments)
    path = tmp_path / name
    pm.write(str(path))
    return path


def load(path, **kwargs):
    return score_from_midi(read_midi(path), path, **kwargs)


def test_band_file_with_drums_picks_the_horn_line(tmp_path):
    drums = instrument(
        0, "Track 1", [(36 + i % 3, i * 0.5, i * 0.5 + 0.1) for i in range(48)], True
    )
    bass = instrument(33, "Track 2", [(40 + i % 5, i, i + 0.9) for i in range(12)])
    piano = instrument(0, "Track 3", comping())
    horn = instrument(66, "Track 4", line())
    score = load(write(tmp_path, drums, bass, piano, horn))
    assert score.meta["melody_track"] == "Track 4"
    assert "best of 3 pitched tracks" in score.meta["melody_reason"]
    assert [n.pitch for n in score.notes] == [p for p, _, _ in line()]
    assert score.meta["chord_source"] == "notes:Track 2,Track 3"
    assert score.meta["bars"] == 3


def test_a_track_named_solo_wins_and_the_user_can_choose(tmp_path):
    path = write(
        tmp_path,
        instrument(66, "Tenor", line(70)),
        instrument(73, "Solo", line(60)),
        instrument(0, "Piano", comping()),
    )
    score = load(path)
    assert score.meta["melody_track"] == "Solo" and score.meta["melody_reason"] == "named 'Solo'"
    assert load(path, melody_track="tenor").notes[0].pitch == 70
    assert load(path, melody_track=0).meta["melody_reason"] == "chosen by the user"
    with pytest.raises(InputError) as err:
        load(path, melody_track="flute")
    assert err.value.reason == "no melody found"


def test_accompaniment_track_gives_the_chord_of_each_beat(tmp_path):
    score = load(
        write(tmp_path, instrument(66, "melody", line()), instrument(0, "piano", comping()))
    )
    assert score.meta["chord_source"] == "notes:piano"
    assert [(c.chord.symbol, c.start_beat, c.duration_beats) for c in score.chords] == [
        ("Dm7", 0.0, 4.0),
        ("G7", 4.0, 4.0),
        ("Cmaj7", 8.0, 4.0),
    ]
    for beat in range(12):
        assert score.chord_at(beat + 0.5).symbol == ["Dm7", "G7", "Cmaj7"][beat // 4]


def test_markers_that_are_not_chords_are_ignored(tmp_path):
    path = write(tmp_path, instrument(66, "melody", line()), instrument(0, "piano", comping()))
    mid = mido.MidiFile(str(path))
    beat = mid.ticks_per_beat
    texts = [("marker", "Intro", 0), ("marker", "Bb7", 0), ("text", "Eb7", 4 * beat)]
    mid.tracks.append(mido.MidiTrack(mido.MetaMessage(k, text=t, time=d) for k, t, d in texts))
    mid.save(str(path))
    score = load(path)
    assert score.meta["chord_source"] == "markers"
    assert [(c.chord.symbol, c.start_beat) for c in score.chords] == [("Bb7", 0.0), ("Eb7", 4.0)]
    assert score.chords[-1].end_beat > 4.0


def test_drums_only_and_chords_only_files_are_refused(tmp_path):
    drums = instrument(0, "drums", [(36, i, i + 0.2) for i in range(16)], is_drum=True)
    with pytest.raises(InputError) as err:
        load(write(tmp_path, drums, name="drums.mid"))
    assert err.value.reason == "drums only"
    with pytest.raises(InputError) as err:
        load(write(tmp_path, instrument(0, "Piano", comping()), name="chords.mid"))
    assert err.value.reason == "no melody found"


def test_melody_is_made_monophonic(tmp_path):
    notes = [(60, 0, 2), (67, 0, 1), (64, 1.5, 3), (62, 2.5, 3.5)]  # a dyad, then overlaps
    score = load(write(tmp_path, instrument(66, "melody", notes)))
    assert [(n.pitch, n.start_beat, n.end_beat) for n in score.notes] == [
        (67, 0.0, 1.0),
        (64, 1.5, 2.5),
        (62, 2.5, 3.5),
    ]
    # a melody alone: one chord per bar is inferred from it (G, E, D: Em7)
    assert score.meta["chord_source"] == "inferred from melody"
    assert [(c.start_beat, c.duration_beats) for c in score.chords] == [(0.0, 4.0)]


def test_make_monophonic_cuts_at_the_next_onset():
    notes = [Note(60, 0.0, 1.0), Note(64, 0.0, 0.5), Note(62, 0.5, 1.0)]
    assert make_monophonic(notes) == (Note(64, 0.0, 0.5), Note(62, 0.5, 1.0))
    assert make_monophonic(notes[:1] + [Note(55, 0.25, 1.0)])[0].end_beat == 0.25
