"""Read any Standard MIDI File into plain tracks in beats; write a `Score` as melody + chords MIDI.

Positions are converted straight from ticks (beat = tick / ticks_per_beat), so reading needs no
tempo arithmetic. Real corpus files are hostile in many ways, so `read_midi` checks the bytes
itself (header, chunk lengths, size limits) and lets mido decode only the events inside each
track chunk; every failure becomes an `InputError` with a short, stable reason.
"""

from __future__ import annotations

import io
import os
import struct
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import mido
from mido.midifiles.midifiles import read_track

from jazzgen.core.files import atomic_path, read_limited
from jazzgen.errors import InputError
from jazzgen.music.score import Score

MIDI_SUFFIXES = (".mid", ".midi")
DRUM_CHANNEL = 9  # MIDI channel 10, counted from 0
SMPTE_FRAME_RATES = (24, 25, 29, 30)  # the only legal negative first bytes of an SMPTE division
TEXT_META_TYPES = ("marker", "text", "cue_marker")
META_TYPES = ("time_signature", "set_tempo", "marker")  # the meta events write_midi makes
MELODY_CHANNEL, CHORDS_CHANNEL = 0, 1
CHORD_RELEASE_BEATS = 1 / 16  # chord notes stop this much early so the next chord re-attacks


class MidiNote(NamedTuple):
    """A sounding note: MIDI pitch, onset and length in beats (quarter notes), velocity 1..127."""

    pitch: int
    start_beat: float
    duration_beats: float
    velocity: int


@dataclass(frozen=True)
class MidiTrack:
    """The notes of one MIDI track on one channel (a track using several channels is split).

    Attributes:
        index: position in `MidiContent.tracks` (unique, stable for a given file).
        name: the track name meta event ("" when absent; " ch<n>" appended when split by channel).
        program: General MIDI program 0..127 in force at the first note (0 when none is given).
        is_drum: the notes are on channel 10.
        notes: sorted by (start_beat, pitch).
        texts: (beat, text) of the marker/text events found in this MIDI track.
        end_beat: where the MIDI track ends (its last event, usually end_of_track).
    """

    index: int
    name: str
    program: int
    is_drum: bool
    notes: tuple[MidiNote, ...]
    texts: tuple[tuple[float, str], ...] = ()
    end_beat: float = 0.0


@dataclass(frozen=True)
class MidiContent:
    """Everything jazzgen uses from a MIDI file, with all times in beats.

    Attributes:
        tracks: pitched and drum note tracks (tracks without notes are kept when they carry text).
        markers: (beat, text) of every marker/text event, sorted.
        time_signatures: (beat, numerator, denominator), sorted.
        tempos: (beat, quarter notes per minute), sorted.
        ticks_per_beat: the header's division (for SMPTE files, ticks per half second).
        length_beats: the end of the longest track.
    """

    tracks: tuple[MidiTrack, ...]
    markers: tuple[tuple[float, str], ...]
    time_signatures: tuple[tuple[float, int, int], ...]
    tempos: tuple[tuple[float, float], ...]
    ticks_per_beat: int
    length_beats: float


MAX_MIDI_BYTES = 20_000_000  # default size limit of a MIDI file (preprocess.max_file_mb for corpora)


def read_midi(
    path: str | os.PathLike, *, max_bytes: int = MAX_MIDI_BYTES, max_notes: int = 200_000
) -> MidiContent:
    """Read a MIDI file into tracks of notes, markers, time signatures and tempos, in beats.

    Args:
        path: the .mid file.
        max_bytes: larger files are refused ("too long").
        max_notes: files with more note-ons are refused ("too long").

    Returns:
        The file's content; notes that never end are closed at the next note-on of the same
        pitch or at the end of their track.

    Raises:
        InputError: reasons "missing file", "not a regular file", "empty file", "not a MIDI file",
            "unreadable header", "truncated", "unreadable track", "too long", "no notes". No
            other exception escapes.
    """
    data = read_limited(path, max_bytes)  # refuses FIFOs, devices and files over the limit
    ticks_per_beat, chunks = _split_chunks(path, data)
    raws = []
    for chunk in chunks:
        try:
            raws.append(_scan_track(read_track(io.BytesIO(chunk))))
        except Exception as e:  # mido raises EOFError, OSError, ValueError, KeyError, ...
            raise InputError(path, "unreadable track", f"{type(e).__name__}: {e}") from e
    n_notes = sum(raw.n_note_ons for raw in raws)
    if n_notes > max_notes:
        raise InputError(path, "too long", f"{n_notes} notes > {max_notes}")
    content = _collect(raws, ticks_per_beat)
    if not any(t.notes for t in content.tracks):
        raise InputError(path, "no notes")
    return content


def _split_chunks(path: str | os.PathLike, data: bytes) -> tuple[int, list[bytes]]:
    """Check the header and cut out each MTrk chunk (header included, as mido reads it)."""
    if not data:
        raise InputError(path, "empty file")
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":  # RIFF-wrapped MIDI: skip to the SMF inside
        start = data.find(b"MThd")
        data = data[start:] if start >= 0 else data
    if data[:4] != b"MThd":
        raise InputError(path, "not a MIDI file", "no MThd header")
    if len(data) < 14:
        raise InputError(path, "unreadable header", f"only {len(data)} bytes")
    header_len, fmt, n_tracks, division = struct.unpack(">LHHH", data[4:14])
    if header_len < 6 or fmt > 2 or n_tracks == 0:
        raise InputError(path, "unreadable header", f"length {header_len}, format {fmt}")
    ticks_per_beat = _ticks_per_beat(path, division)
    chunks, pos = [], 8 + header_len
    while len(chunks) < n_tracks:
        if pos + 8 > len(data):
            raise InputError(path, "truncated", f"{len(chunks)} of {n_tracks} tracks present")
        name, length = struct.unpack(">4sL", data[pos : pos + 8])
        if pos + 8 + length > len(data):
            raise InputError(path, "truncated", f"track chunk wants {length} bytes")
        if name == b"MTrk":
            chunks.append(data[pos : pos + 8 + length])
        # Unknown chunk types are skipped, as the standard asks of readers.
        pos += 8 + length
    return ticks_per_beat, chunks


def _ticks_per_beat(path: str | os.PathLike, division: int) -> int:
    """The header's division as ticks per beat, accepting a top bit that is not real SMPTE."""
    if division & 0x8000:
        frames = 256 - (division >> 8)
        if frames in SMPTE_FRAME_RATES and division & 0xFF:
            # True SMPTE time has no beats; read it at 120 qpm (a beat per half second).
            return max(1, frames * (division & 0xFF) // 2)
        # Not a legal frame rate: a large ticks-per-beat (WJD files use 55440).
        return division
    if division == 0:
        raise InputError(path, "unreadable header", "division 0")
    return division


@dataclass
class _RawTrack:
    """What one MIDI track chunk holds, in ticks, before it is split by channel."""

    name: str = ""
    notes: dict = field(default_factory=lambda: defaultdict(list))  # channel -> [(s, p, e, v)]
    programs: dict = field(default_factory=dict)  # channel -> program in force at its first note
    texts: list = field(default_factory=list)  # (tick, text)
    signatures: list = field(default_factory=list)  # (tick, numerator, denominator)
    tempos: list = field(default_factory=list)  # (tick, qpm)
    n_note_ons: int = 0
    end_tick: int = 0


def _scan_track(midi_track: mido.MidiTrack) -> _RawTrack:
    """Pair note-ons with note-offs per channel and pitch; keep the meta events jazzgen uses."""
    raw, tick = _RawTrack(), 0
    open_notes: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) -> (tick, vel)
    sounding_channels: set[int] = set()
    for msg in midi_track:
        tick += msg.time
        kind = msg.type
        if kind == "note_on" and msg.velocity > 0:
            raw.n_note_ons += 1
            key = (msg.channel, msg.note)
            if key in open_notes:  # re-struck before its note-off: the old note ends here
                _close(raw, key, open_notes.pop(key), tick)
            open_notes[key] = (tick, msg.velocity)
            sounding_channels.add(msg.channel)
        elif kind in ("note_off", "note_on"):  # note_on with velocity 0 is a note-off
            key = (msg.channel, msg.note)
            if key in open_notes:
                _close(raw, key, open_notes.pop(key), tick)
        elif kind == "program_change" and msg.channel not in sounding_channels:
            raw.programs[msg.channel] = msg.program
        elif kind == "track_name" and not raw.name:
            raw.name = msg.name.strip()
        elif kind in TEXT_META_TYPES:
            raw.texts.append((tick, msg.text.strip()))
        elif kind == "time_signature":
            raw.signatures.append((tick, msg.numerator, msg.denominator))
        elif kind == "set_tempo" and msg.tempo > 0:
            raw.tempos.append((tick, 60e6 / msg.tempo))
    for key, start in list(open_notes.items()):  # notes that never end close at the track end
        _close(raw, key, start, tick)
    raw.end_tick = tick
    return raw


def _by_beat(events: Iterable[tuple]) -> tuple:
    return tuple(sorted(events, key=lambda event: event[0]))


def _close(raw: _RawTrack, key: tuple[int, int], start: tuple[int, int], end: int) -> None:
    """Record a finished note as (start_tick, pitch, end_tick, velocity); drop zero-length ones."""
    (channel, pitch), (start_tick, velocity) = key, start
    if end > start_tick:
        raw.notes[channel].append((start_tick, pitch, end, velocity))


def _collect(raws: list[_RawTrack], ticks_per_beat: int) -> MidiContent:
    """Split tracks by channel and convert every position from ticks to beats."""
    tpb = ticks_per_beat
    any_program: dict[int, int] = {}  # a channel's program set in another track (type 0/1 habits)
    for raw in raws:
        for channel, program in raw.programs.items():
            any_program.setdefault(channel, program)
    tracks: list[MidiTrack] = []
    for raw in raws:
        channels = sorted(ch for ch, notes in raw.notes.items() if notes)
        texts = tuple((tick / tpb, text) for tick, text in raw.texts)
        if not channels and texts:  # a text-only track (markers) is kept for its texts
            tracks.append(MidiTrack(len(tracks), raw.name, 0, False, (), texts, raw.end_tick / tpb))
        for channel in channels:
            notes = tuple(
                MidiNote(p, s / tpb, (e - s) / tpb, v) for s, p, e, v in sorted(raw.notes[channel])
            )
            name = f"{raw.name} ch{channel + 1}" if len(channels) > 1 else raw.name
            program = raw.programs.get(channel, any_program.get(channel, 0))
            is_drum = channel == DRUM_CHANNEL
            tracks.append(
                MidiTrack(len(tracks), name, program, is_drum, notes, texts, raw.end_tick / tpb)
            )
    return MidiContent(
        tracks=tuple(tracks),
        # Sorted by position only: events at the same beat keep their file order.
        markers=_by_beat((t / tpb, text) for raw in raws for t, text in raw.texts),
        time_signatures=_by_beat((t / tpb, n, d) for r in raws for t, n, d in r.signatures),
        tempos=_by_beat((t / tpb, qpm) for raw in raws for t, qpm in raw.tempos),
        ticks_per_beat=tpb,
        length_beats=max((raw.end_tick for raw in raws), default=0) / tpb,
    )


def write_midi(
    score: Score,
    path: str | os.PathLike,
    melody_program: int = 66,
    chord_program: int = 0,
    ticks_per_beat: int = 480,
) -> None:
    """Write a score as a conductor track, a `melody` track and a `chords` track (atomically).

    Each chord span sounds as a bass note (octave 36-47) under the chord's pitch classes voiced
    close above its root (48-70), and its symbol is written as a marker at the span's start, so
    reading the file back recovers the exact symbols. Spans without a root (N.C.) sound nothing.
    The same score always gives the same bytes.

    Args:
        score: the melody, chords, time signature and tempo (with tempo_changes) to write.
        path: the .mid file to create or replace.
        melody_program: General MIDI program of the melody (66 = tenor sax).
        chord_program: General MIDI program of the chords (0 = acoustic grand piano).
        ticks_per_beat: resolution of the file.
    """

    def ticks(beat: float) -> int:
        return round(beat * ticks_per_beat)

    num, den = score.time_signature
    conductor = [(0, 0, "time_signature", (("denominator", den), ("numerator", num)))]
    tempo_at_zero = next((q for b, q in score.tempo_changes if ticks(b) == 0), score.tempo_qpm)
    changes = [(0, tempo_at_zero)] + [(ticks(b), q) for b, q in score.tempo_changes if ticks(b) > 0]
    current = None
    for tick, qpm in sorted(changes, key=lambda change: change[0]):
        tempo = min(0xFFFFFF, max(1, round(60e6 / qpm)))  # the 3 bytes a set_tempo holds
        if tempo != current:  # repeated tempos add bytes and say nothing
            conductor.append((tick, 1, "set_tempo", (("tempo", tempo),)))
            current = tempo

    melody = [(0, 0, "program_change", (("channel", MELODY_CHANNEL), ("program", melody_program)))]
    for note in score.notes:
        start = ticks(note.start_beat)
        end = max(start + 1, ticks(note.end_beat))
        melody += _note_events(MELODY_CHANNEL, note.pitch, note.velocity, start, end)

    chords = [(0, 0, "program_change", (("channel", CHORDS_CHANNEL), ("program", chord_program)))]
    for span in score.chords:
        start = ticks(span.start_beat)
        symbol = span.chord.symbol.encode("latin-1", "replace").decode("latin-1")
        chords.append((start, 1, "marker", (("text", symbol),)))
        if span.chord.root is None:
            continue
        release = min(CHORD_RELEASE_BEATS, span.duration_beats / 2)
        end = max(start + 1, ticks(span.end_beat - release))
        for pitch in chord_voicing(span.chord.root, span.chord.pitch_classes, span.chord.bass):
            chords += _note_events(CHORDS_CHANNEL, pitch, 70, start, end)
    chords_end = max((ticks(s.end_beat) for s in score.chords), default=0)

    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    song_end = max(chords_end, max((ticks(n.end_beat) for n in score.notes), default=0))
    mid.tracks.append(_track("conductor", conductor, song_end))
    mid.tracks.append(_track("melody", melody, 0))
    mid.tracks.append(_track("chords", chords, chords_end))
    with atomic_path(path) as tmp:
        mid.save(tmp)


def chord_voicing(root: int, pitch_classes: tuple[int, ...], bass: int | None) -> list[int]:
    """MIDI pitches of a block chord: the bass in 36-47, then each pitch class from the root up."""
    bass_pc = root if bass is None else bass
    low_root = 48 + root
    upper = sorted({low_root + (pc - root) % 12 for pc in pitch_classes} | {low_root})
    return [36 + bass_pc % 12] + upper


def _note_events(channel: int, pitch: int, velocity: int, start: int, end: int) -> list[tuple]:
    """A note as two events; note-offs sort before note-ons at the same tick (order 0 < 2)."""
    fields = (("channel", channel), ("note", pitch))
    return [
        (start, 2, "note_on", fields + (("velocity", velocity),)),
        (end, 0, "note_off", fields + (("velocity", 0),)),
    ]


def _track(name: str, events: list[tuple], end_tick: int) -> mido.MidiTrack:
    """A mido track from (tick, order, type, fields) events in a fixed order, ending at end_tick.

    Messages are made once, with their delta time, late: building mido messages dominates the
    time it takes to write a file.
    """
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
    now = 0
    for tick, _, kind, fields in sorted(events):
        make = mido.MetaMessage if kind in META_TYPES else mido.Message
        track.append(make(kind, time=tick - now, **dict(fields)))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - now)))
    return track
