"""The central data model: a monophonic melody over chord spans, all times in beats.

A beat is a quarter note (MIDI ticks / ticks-per-beat). Music readers produce a `Score`, the
tokenizers turn it into values and back, writers render it. music21 and pretty_midi never leak
past the readers and writers. Constructors check their own invariants.
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from dataclasses import dataclass, field

from jazzgen.music.chords import Chord


class _Timed:
    """Something that starts at `start_beat` and lasts `duration_beats` (both in quarter notes);
    the dataclasses below declare the two fields."""

    start_beat: float
    duration_beats: float

    @property
    def end_beat(self) -> float:
        """Where it stops sounding, in beats from the start of the piece."""
        return self.start_beat + self.duration_beats


@dataclass(frozen=True)
class Note(_Timed):
    """One melody note.

    Attributes:
        pitch: MIDI pitch 0..127.
        start_beat: onset in quarter notes from the start of the piece (>= 0).
        duration_beats: length in quarter notes (> 0).
        velocity: MIDI velocity 1..127.
    """

    pitch: int
    start_beat: float
    duration_beats: float
    velocity: int = 90

    def __post_init__(self) -> None:
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"pitch {self.pitch} outside 0..127")
        if self.start_beat < 0:
            raise ValueError(f"start_beat {self.start_beat} < 0")
        if self.duration_beats <= 0:
            raise ValueError(f"duration_beats {self.duration_beats} <= 0")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity {self.velocity} outside 1..127")


@dataclass(frozen=True)
class ChordSpan(_Timed):
    """A chord sounding from `start_beat` for `duration_beats` quarter notes."""

    chord: Chord
    start_beat: float
    duration_beats: float

    def __post_init__(self) -> None:
        if self.start_beat < 0 or self.duration_beats <= 0:
            raise ValueError(f"bad chord span {self.start_beat}+{self.duration_beats}")


@dataclass(frozen=True)
class Score:
    """A melody (monophonic, sorted by onset) over chord spans (sorted, non-overlapping).

    Attributes:
        notes: melody notes, sorted by start_beat, no two sounding at once.
        chords: chord spans, sorted by start_beat; gaps mean no chord.
        time_signature: (numerator, denominator); one per piece.
        tempo_qpm: tempo in quarter notes per minute, for writing (the first tempo of the piece).
        tempo_changes: optional (start_beat, qpm) pairs after the first, for faithful re-writing.
        source: where the score came from (file path), for messages and the manifest.
    """

    notes: tuple[Note, ...]
    chords: tuple[ChordSpan, ...] = ()
    time_signature: tuple[int, int] = (4, 4)
    tempo_qpm: float = 120.0
    tempo_changes: tuple[tuple[float, float], ...] = ()
    source: str = ""
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        for a, b in zip(self.notes, self.notes[1:]):
            if b.start_beat < a.start_beat:
                raise ValueError("notes are not sorted by start_beat")
            if b.start_beat < a.end_beat - 1e-6:
                raise ValueError(f"melody is not monophonic at beat {b.start_beat}")
        for a, b in zip(self.chords, self.chords[1:]):
            if b.start_beat < a.end_beat - 1e-6:
                raise ValueError(f"chord spans overlap at beat {b.start_beat}")
        num, den = self.time_signature
        if num <= 0 or den not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"bad time signature {num}/{den}")
        if self.tempo_qpm <= 0:
            raise ValueError(f"tempo {self.tempo_qpm} <= 0")

    @property
    def beats_per_bar(self) -> float:
        """Quarter notes per bar (3/4 -> 3, 6/8 -> 3, 5/4 -> 5)."""
        num, den = self.time_signature
        return num * 4.0 / den

    @property
    def end_beat(self) -> float:
        ends = [n.end_beat for n in self.notes] + [c.end_beat for c in self.chords]
        return max(ends, default=0.0)

    def chord_at(self, beat: float) -> Chord | None:
        """The chord sounding at `beat` (None where no span covers it).

        Spans are sorted and do not overlap, so a bisection finds the last one starting at or
        before `beat` (tokenizers and statistics ask once per note).
        """
        i = bisect_right(self._chord_starts, beat + 1e-6) - 1
        if i >= 0 and beat < self.chords[i].end_beat - 1e-6:
            return self.chords[i].chord
        return None

    @functools.cached_property
    def _chord_starts(self) -> list[float]:
        return [span.start_beat for span in self.chords]


def phrase_numbers(notes, gap_beats: float) -> list[int]:
    """Phrase number of every note (from 0): a rest of `gap_beats` or more starts a new phrase."""
    out: list[int] = []
    for i, note in enumerate(notes):
        new = i > 0 and note.start_beat - notes[i - 1].end_beat >= gap_beats - 1e-9
        out.append((out[-1] + new) if out else 0)
    return out
