"""read_midi / write_midi: round trips, real-world headers, and hostile bytes."""

from __future__ import annotations

import random

import mido
import pretty_midi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jazzgen.errors import InputError
from jazzgen.music.chords import parse_chord
from jazzgen.music.midi_io import MIDI_SUFFIXES, chord_voicing, read_midi, write_midi
from jazzgen.music.score import ChordSpan, Note, Score
from jazzgen.music.tracks import score_from_midi

TICK = 1 / 480


def small_score() -> Score:
    """Eight melody notes over ii-V-I, an N.C. bar and a slash chord, with a tempo change."""
    pitches = [62, 65, 69, 72, 71, 67, 64, 60]
    notes = tuple(Note(p, 0.5 * i + 0.25, 0.4, 80 + i) for i, p in enumerate(pitches))
    symbols = ["D-7", "G7", "Cj7", "NC", "C/E"]
    chords = tuple(ChordSpan(parse_chord(s), 2.0 * i, 2.0) for i, s in enumerate(symbols))
    return Score(notes, chords, (3, 4), 150.0, ((4.0, 100.0),))


def two_track_pm(resolution: int = 480) -> pretty_midi.PrettyMIDI:
    """A pretty_midi file with a 'melody' line over a 'chords' track, as other tools write them."""
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=120.0)
    melody = pretty_midi.Instrument(66, name="melody")
    chords = pretty_midi.Instrument(0, name="chords")
    for i in range(16):
        melody.notes.append(pretty_midi.Note(90, 60 + i % 7, i * 0.25, i * 0.25 + 0.2))
    for pitch in (50, 53, 57, 60):
        chords.notes.append(pretty_midi.Note(70, pitch, 0.0, 2.0))
    pm.instruments += [melody, chords]
    return pm


def test_round_trip_keeps_notes_chords_and_tempo(tmp_path):
    score = small_score()
    path = tmp_path / "out.mid"
    write_midi(score, path)
    again = score_from_midi(read_midi(path), path)
    assert len(again.notes) == len(score.notes)
    for a, b in zip(score.notes, again.notes, strict=True):
        assert a.pitch == b.pitch and a.velocity == b.velocity
        assert abs(a.start_beat - b.start_beat) <= TICK
        assert abs(a.duration_beats - b.duration_beats) <= TICK
    assert [c.chord.symbol for c in again.chords] == ["D-7", "G7", "Cj7", "NC", "C/E"]
    assert [(c.start_beat, c.duration_beats) for c in again.chords] == [
        (c.start_beat, c.duration_beats) for c in score.chords
    ]
    assert again.time_signature == (3, 4)
    assert again.tempo_qpm == pytest.approx(150.0, abs=0.01)
    assert [b for b, _ in again.tempo_changes] == [4.0]
    assert again.meta["melody_track"] == "melody" and again.meta["chord_source"] == "markers"


def test_written_file_is_deterministic_and_named(tmp_path):
    score = small_score()
    write_midi(score, tmp_path / "a.mid")
    write_midi(score, tmp_path / "b.mid")
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left nothing behind
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "a.mid"))
    by_name = {i.name: i for i in pm.instruments}
    assert set(by_name) == {"melody", "chords"}
    assert by_name["melody"].program == 66 and by_name["chords"].program == 0


def test_block_chords_voice_every_pitch_class_and_re_attack(tmp_path):
    score = small_score()
    write_midi(score, tmp_path / "a.mid")
    content = read_midi(tmp_path / "a.mid")
    chords = next(t for t in content.tracks if t.name == "chords")
    for span in score.chords:
        sounding = [n for n in chords.notes if n.start_beat == span.start_beat]
        if span.chord.root is None:
            assert not sounding  # N.C. sounds nothing
            continue
        bass, *upper = sorted(n.pitch for n in sounding)
        assert 36 <= bass <= 47 and bass % 12 == span.chord.bass
        assert all(48 <= p <= 71 for p in upper)
        assert {p % 12 for p in upper} >= set(span.chord.pitch_classes)
        for n in sounding:
            assert n.start_beat + n.duration_beats == pytest.approx(span.end_beat - 1 / 16)


def test_chord_voicing_is_close_above_the_root():
    assert chord_voicing(7, (7, 11, 2, 5), 7) == [43, 55, 59, 62, 65]
    assert chord_voicing(0, (0, 4, 7), 4) == [40, 48, 52, 55]


def test_reads_what_other_tools_write(tmp_path):
    path = tmp_path / "pm.mid"
    two_track_pm().write(str(path))
    content = read_midi(path)
    assert [t.name for t in content.tracks] == ["melody", "chords"]
    assert content.tempos[0] == (0.0, pytest.approx(120.0))
    melody = content.tracks[0]
    assert melody.program == 66 and not melody.is_drum
    assert melody.notes[1].start_beat == pytest.approx(0.5)
    assert melody.notes[1].duration_beats == pytest.approx(0.4)
    assert ".mid" in MIDI_SUFFIXES and ".midi" in MIDI_SUFFIXES


def test_division_55440_loads_as_ticks_per_beat(tmp_path):
    """Built as the WJD files are: 55440 ticks/beat sets the header's top bit (not SMPTE)."""
    plain, big = tmp_path / "plain.mid", tmp_path / "big.mid"
    pm = two_track_pm(resolution=27720)
    pm.write(str(plain))
    m = mido.MidiFile(str(plain))
    for track in m.tracks:
        for msg in track:
            msg.time *= 2
    m.save(str(big))
    data = bytearray(big.read_bytes())
    data[12:14] = (55440).to_bytes(2, "big")
    big.write_bytes(bytes(data))

    content = read_midi(big)
    assert content.ticks_per_beat == 55440
    expected = read_midi(plain)
    for a, b in zip(content.tracks, expected.tracks, strict=True):
        assert [n.pitch for n in a.notes] == [n.pitch for n in b.notes]
        starts = [n.start_beat for n in a.notes]
        assert starts == pytest.approx([n.start_beat for n in b.notes])


def test_real_smpte_division_is_read_at_120_qpm(tmp_path):
    path = tmp_path / "smpte.mid"
    two_track_pm().write(str(path))
    data = bytearray(path.read_bytes())
    data[12:14] = bytes([256 - 25, 40])  # 25 frames/s, 40 ticks/frame = 1000 ticks/s
    path.write_bytes(bytes(data))
    assert read_midi(path).ticks_per_beat == 500


def track_file(path, messages, ticks_per_beat=480):
    mid = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    mid.tracks.append(mido.MidiTrack(messages))
    mid.save(str(path))
    return path


def test_unended_notes_close_at_next_onset_or_track_end(tmp_path):
    path = track_file(
        tmp_path / "open.mid",
        [
            mido.Message("note_on", note=60, velocity=80, time=0),
            mido.Message("note_on", note=60, velocity=80, time=480),  # re-struck, never ended
            mido.Message("note_on", note=64, velocity=80, time=0),
            mido.Message("note_on", note=64, velocity=0, time=240),  # velocity 0 = note-off
            mido.MetaMessage("end_of_track", time=720),
        ],
    )
    notes = read_midi(path).tracks[0].notes
    assert [(n.pitch, n.start_beat, n.duration_beats) for n in notes] == [
        (60, 0.0, 1.0),
        (60, 1.0, 2.0),
        (64, 1.0, 0.5),
    ]


def test_one_track_with_several_channels_is_split(tmp_path):
    path = track_file(
        tmp_path / "type0.mid",
        [
            mido.MetaMessage("track_name", name="band"),
            mido.Message("program_change", channel=2, program=65),
            mido.Message("note_on", channel=2, note=70, velocity=80),
            mido.Message("note_on", channel=9, note=36, velocity=80),
            mido.Message("note_off", channel=2, note=70, time=240),
            mido.Message("note_off", channel=9, note=36),
        ],
    )
    tracks = read_midi(path).tracks
    assert [(t.name, t.program, t.is_drum) for t in tracks] == [
        ("band ch3", 65, False),
        ("band ch10", 0, True),
    ]


def good_bytes(tmp_path) -> bytes:
    path = tmp_path / "good.mid"
    two_track_pm().write(str(path))
    return path.read_bytes()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda raw: b"", "empty file"),
        (lambda raw: random.Random(1).randbytes(5000), "not a MIDI file"),
        (lambda raw: b"This is not a MIDI file, it is a README.\n" * 20, "not a MIDI file"),
        (lambda raw: b"MThx" + raw[4:], "not a MIDI file"),
        (lambda raw: raw[:10], "unreadable header"),
        (lambda raw: raw[:14], "truncated"),
        (lambda raw: raw[: len(raw) * 3 // 5], "truncated"),
    ],
)
def test_hostile_bytes_name_their_reason(tmp_path, make, reason):
    path = tmp_path / "bad.mid"
    path.write_bytes(make(good_bytes(tmp_path)))
    with pytest.raises(InputError) as err:
        read_midi(path)
    assert err.value.reason == reason


def test_files_without_notes_or_too_long_are_refused(tmp_path):
    silent = pretty_midi.PrettyMIDI()
    silent.instruments.append(pretty_midi.Instrument(0, name="melody"))
    silent.write(str(tmp_path / "silent.mid"))
    with pytest.raises(InputError, match="no notes"):
        read_midi(tmp_path / "silent.mid")
    (tmp_path / "good.mid").write_bytes(good_bytes(tmp_path))
    with pytest.raises(InputError, match="too long"):
        read_midi(tmp_path / "good.mid", max_notes=5)
    with pytest.raises(InputError, match="too long"):
        read_midi(tmp_path / "good.mid", max_bytes=100)


def test_garbage_inside_a_track_is_an_unreadable_track(tmp_path):
    raw = bytearray(good_bytes(tmp_path))
    first_track = raw.index(b"MTrk") + 8
    raw[first_track + 1 : first_track + 4] = b"\xf4\x01\x02"  # an undefined status byte
    (tmp_path / "bad.mid").write_bytes(bytes(raw))
    with pytest.raises(InputError) as err:
        read_midi(tmp_path / "bad.mid")
    assert err.value.reason == "unreadable track"


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzzed_bytes_raise_only_input_error(tmp_path, data):
    raw = bytearray(good_bytes(tmp_path))
    for _ in range(data.draw(st.integers(0, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    path = tmp_path / "fuzz.mid"
    path.write_bytes(bytes(raw[:cut]))
    try:
        content = read_midi(path)
    except InputError:
        return
    try:  # what reads must also turn into a score or a named refusal
        score_from_midi(content, path)
    except InputError:
        pass
