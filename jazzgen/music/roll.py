"""A MIDI file as a flat roll: notes tagged with their part, tempos, time signatures and markers,
all in absolute ticks. The renderers (`render` for sound, `piano_roll` for the picture) read it.

MIDI is read through `midi_io.read_midi`, so corpus files render as well as jazzgen's own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from jazzgen.errors import JazzgenError
from jazzgen.music.midi_io import read_midi


@dataclass(frozen=True)
class RollNote:
    """One sounding note, in ticks, tagged with the part ("melody" or "chords") it belongs to."""

    pitch: int
    start_tick: int
    end_tick: int
    velocity: int
    part: str


@dataclass(frozen=True)
class Roll:
    """What the renderers need from a MIDI file, with absolute tick times."""

    ticks_per_beat: int
    notes: tuple[RollNote, ...]
    tempos: tuple[tuple[int, int], ...]  # (tick, microseconds per beat), sorted, first at tick 0
    time_signatures: tuple[tuple[int, int, int], ...]  # (tick, numerator, denominator), sorted
    markers: tuple[tuple[int, str], ...]  # (tick, text), sorted
    end_tick: int  # the last event of any track (end_of_track included)
    programs: tuple[tuple[str, int], ...] = ()  # (part, GM program of its first track)

    def seconds(self, ticks: np.ndarray) -> np.ndarray:
        """Convert absolute ticks to seconds through the tempo map."""
        ticks = np.asarray(ticks, dtype=np.float64)
        starts = np.array([t for t, _ in self.tempos], dtype=np.float64)
        sec_per_tick = np.array([us for _, us in self.tempos], dtype=np.float64)
        sec_per_tick /= 1e6 * self.ticks_per_beat
        # Seconds elapsed at the start of each tempo segment.
        offsets = np.concatenate([[0.0], np.cumsum(np.diff(starts) * sec_per_tick[:-1])])
        seg = np.searchsorted(starts, ticks, side="right") - 1
        return offsets[seg] + (ticks - starts[seg]) * sec_per_tick[seg]


def part_of(name: str, is_drum: bool = False) -> str:
    """Which part a track plays: "drums" on channel 10, "bass" or "chords" when its name says so,
    else "melody"."""
    if is_drum:
        return "drums"
    if "bass" in name.lower():
        return "bass"
    return "chords" if any(w in name.lower() for w in ("chord", "piano", "comp")) else "melody"


def read_roll(path: str | os.PathLike) -> Roll:
    """Notes, tempos, time signatures and markers, read by the project's MIDI reader.

    `midi_io.read_midi` already copes with real files (the 55440 division, notes that never
    end, damaged bytes -> InputError); here beats are turned back into ticks of its division.
    """
    content = read_midi(path)
    tpb = content.ticks_per_beat

    def tick(beat: float) -> int:
        return round(beat * tpb)

    notes = [RollNote(n.pitch, tick(n.start_beat), tick(n.start_beat + n.duration_beats), n.velocity,
                       part_of(t.name, t.is_drum)) for t in content.tracks for n in t.notes]
    notes = [n for n in notes if n.end_tick > n.start_tick]
    if not any(n.part != "drums" for n in notes):
        raise JazzgenError(f"{path}: MIDI has no notes to render")
    tempos = {tick(b): round(60e6 / qpm) for b, qpm in content.tempos}
    tempos.setdefault(0, 500_000)  # MIDI's default: 120 quarter notes per minute
    signatures = {tick(b): (num, den) for b, num, den in content.time_signatures}
    signatures.setdefault(0, (4, 4))
    notes.sort(key=lambda n: (n.start_tick, n.pitch))
    programs: dict[str, int] = {}
    for t in content.tracks:
        programs.setdefault(part_of(t.name, t.is_drum), t.program)
    return Roll(
        programs=tuple(programs.items()),
        ticks_per_beat=tpb,
        notes=tuple(notes),
        tempos=tuple(sorted(tempos.items())),
        time_signatures=tuple((t, n, d) for t, (n, d) in sorted(signatures.items())),
        markers=tuple(sorted((tick(b), text.strip()) for b, text in content.markers if text.strip())),
        end_tick=max(tick(content.length_beats), max(n.end_tick for n in notes)),
    )
