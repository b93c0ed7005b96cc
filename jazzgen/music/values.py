"""The course's value grammar: each melody note or rest as one chord-relative "value".

A value is ``TYPE,duration[,<low,high>]``:

- TYPE, against the chord sounding at the note's onset: ``C`` chord tone, ``S`` scale tone (in
  the chord-scale, not in the chord), ``A`` approach tone (a semitone from a chord tone), ``X``
  anything else (and every note where no chord sounds); ``R`` is a rest.
- duration in quarter notes, an exact fraction: ``1/3``, ``1/2``, ``1``, ``3/2``.
- the interval window: the semitones from the previous note, widened by `window` each way
  (absent for the first note and for rests).

Examples: ``C,1/2,<-4,0>``, ``R,1``, ``S,1/3``. Because values name no pitch, decoding can play
them over any chord changes: each note gets a pitch of its TYPE inside its window.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from typing import ClassVar

import numpy as np

from jazzgen.core.tokenizer import Tokenizer
from jazzgen.music.chords import Chord
from jazzgen.music.score import ChordSpan, Note, Score

_VALUE = re.compile(r"([CSAXR]),(\d+(?:/\d+)?)(?:,<(-?\d+),(-?\d+)>)?")


def note_type(pitch: int, chord: Chord | None) -> str:
    """TYPE of `pitch` over `chord`: 'C', 'S', 'A' or 'X' (always 'X' without a chord)."""
    if chord is None or chord.root is None:
        return "X"
    pc = pitch % 12
    if pc in chord.pitch_classes:
        return "C"
    if pc in chord.scale:
        return "S"
    if (pc + 1) % 12 in chord.pitch_classes or (pc - 1) % 12 in chord.pitch_classes:
        return "A"
    return "X"


def parse_value(token: str) -> tuple[str, Fraction, tuple[int, int] | None]:
    """Split a value into (TYPE, duration in quarter notes, (low, high) window or None).

    Raises:
        ValueError: `token` is not a value (e.g. '<bos>', '<unk>').
    """
    m = _VALUE.fullmatch(token)
    if not m:
        raise ValueError(f"not a value: {token!r}")
    kind, duration = m.group(1), Fraction(m.group(2))
    window = None if m.group(3) is None else (int(m.group(3)), int(m.group(4)))
    if duration <= 0 or (window is not None and (kind == "R" or window[0] > window[1])):
        raise ValueError(f"not a value: {token!r}")
    return kind, duration, window


def value_duration(token: str) -> float:
    """Quarter notes a token lasts; 0.0 for tokens that are not values (specials)."""
    try:
        return float(parse_value(token)[1])
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class ValuesTokenizer(Tokenizer):
    """Melody <-> values, relative to the chords; settings round-trip through `config()`.

    Attributes:
        window: semitones the interval is widened each way in `<low,high>` (>= 0).
        max_interval: larger leaps fold by octaves into ±max_interval (>= 6; from 11 up the
            folded leap keeps its direction). Leaps beyond it decode an octave nearer.
        grid_per_beat: finest time unit per quarter note. Onsets snap to the sixteenth and
            sixteenth-triplet positions on it: with 12, {0, 1/6, 1/4, 1/3, 1/2, 2/3, 3/4, 5/6},
            which keeps triplets and triplet-based swing eighths.
        max_duration_beats: longer notes are cut and followed by rests; longer rests split.
        low_pitch, high_pitch: the playable MIDI range decoding keeps to (>= an octave).
    """

    name: ClassVar[str] = "values"
    window: int = 2
    max_interval: int = 12
    grid_per_beat: int = 12
    max_duration_beats: float = 4.0
    low_pitch: int = 48
    high_pitch: int = 84

    def __post_init__(self) -> None:
        if self.window < 0 or self.max_interval < 6 or self.grid_per_beat < 1:
            raise ValueError(f"bad values settings {self}")
        ticks = self.max_duration_beats * self.grid_per_beat
        if ticks < 1 or ticks != round(ticks):
            raise ValueError(f"max_duration_beats {self.max_duration_beats} is off the grid")
        # An octave of range means every pitch class, so every TYPE has a pitch to land on.
        if not 0 <= self.low_pitch <= self.high_pitch - 11 <= 116:
            raise ValueError(f"pitch range {self.low_pitch}..{self.high_pitch} under an octave")

    unit: ClassVar[str] = "values"  # what one token is called in reports
    # The tokens name no bars, positions or chords: generation plays them over given changes.
    writes_structure: ClassVar[bool] = False

    def config(self) -> dict:
        """JSON-able settings; `ValuesTokenizer.from_config(config())` rebuilds this one."""
        return {"name": self.name, **asdict(self)}

    @classmethod
    def from_settings(cls, cfg) -> ValuesTokenizer:
        """The tokenizer `preprocess` makes from [preprocess] settings (`window`)."""
        return cls(window=cfg.window)

    def other_keys(self, tokens: list[str], all_keys: bool) -> dict[int, list[str]]:
        """Values are relative to the chords, hence key-free: no extra copies."""
        return {}

    def evaluation(self, run, corpus) -> None:
        """No figures beyond the common ones."""
        return None

    def play(self, run, engine, plans, seed: int, rng: np.random.Generator, *, temperature: float = 1.0,
             top_k: int = 0, meter: bool = True, chord_tone_bias: float = 0.0) -> list[Score]:
        """One solo per plan (`solos.Plan`): values sampled in one batch, each plan's beats its
        budget (`solos.sample_values`, `chord_tone_bias` nats on chord-tone values), solo i
        decoded with the random stream [seed, i]."""
        from jazzgen.music.solos import sample_values

        decodings = [Decoding(self, tuple(p.spans), (seed, i)) for i, p in enumerate(plans)]
        ids = sample_values(run, engine, self, [p.total_beats for p in plans], rng,
                            temperature=temperature, top_k=top_k, meter=meter,
                            spans=[p.spans for p in plans],
                            beats_per_bar=plans[0].time_signature[0] * 4 / plans[0].time_signature[1],
                            tempo_qpm=[p.tempo_qpm for p in plans], decodings=decodings,
                            chord_tone_bias=chord_tone_bias)
        return [d.decode(run.vocab.decode(x), time_signature=p.time_signature, tempo_qpm=p.tempo_qpm)
                for x, p, d in zip(ids, plans, decodings, strict=True)]

    # -- time grid ------------------------------------------------------------------------

    def _onsets_in_beat(self) -> list[int]:
        """Allowed onset ticks within one beat, plus the next downbeat."""
        g = self.grid_per_beat
        return [k for k in range(g + 1) if (4 * k) % g == 0 or (6 * k) % g == 0]

    def _snap(self, beats: float) -> int:
        """The allowed onset nearest to `beats`, in ticks (ties go early)."""
        whole = math.floor(beats)
        frac = (beats - whole) * self.grid_per_beat
        return whole * self.grid_per_beat + min(self._onsets_in_beat(), key=lambda k: abs(k - frac))

    def _next_onset(self, tick: int) -> int:
        """The first allowed onset after `tick`."""
        beat, k = divmod(tick, self.grid_per_beat)
        return beat * self.grid_per_beat + next(j for j in self._onsets_in_beat() if j > k)

    def quantize_score(self, score: Score) -> tuple[Score, dict]:
        """Snap the melody to the onset grid; a no-op on a score it returned.

        Onsets snap to the nearest allowed position; of notes landing on one onset the longest
        stays. Durations snap to the same grid, measured from the onset. A note whose snapped
        duration is at least half the gap to the next onset is played legato (it fills the
        gap); otherwise a rest fills the rest of the gap. Notes are then cut to
        `max_duration_beats`.

        Returns:
            (the quantized score, report) with report keys `notes` (kept),
            `notes_dropped`, `mean_abs_shift_beats` and `max_shift_beats` (onset moves).
        """
        g = self.grid_per_beat
        kept: list[tuple[int, Note]] = []
        for note in score.notes:
            tick = self._snap(note.start_beat)
            if kept and kept[-1][0] == tick:
                if note.duration_beats > kept[-1][1].duration_beats:
                    kept[-1] = (tick, note)
                continue
            kept.append((tick, note))
        notes = []
        for i, (tick, note) in enumerate(kept):
            # Durations snap like onsets but measured from the note's own onset, so lengths
            # come from one sixteenth/triplet set wherever a note starts (min: one step).
            sound = max(self._snap(note.duration_beats), self._next_onset(0))
            if i + 1 < len(kept):
                gap = kept[i + 1][0] - tick
                sound = gap if 2 * sound >= gap else sound
            ticks = min(sound, round(self.max_duration_beats * g))
            notes.append(replace(note, start_beat=tick / g, duration_beats=ticks / g))
        shifts = [abs(tick / g - note.start_beat) for tick, note in kept]
        report = {
            "notes": len(notes),
            "notes_dropped": len(score.notes) - len(kept),
            "mean_abs_shift_beats": sum(shifts) / len(shifts) if shifts else 0.0,
            "max_shift_beats": max(shifts, default=0.0),
        }
        return replace(score, notes=tuple(notes)), report

    # -- encode ---------------------------------------------------------------------------

    def _fold(self, interval: int) -> int:
        """Fold a leap by octaves into ±max_interval."""
        while abs(interval) > self.max_interval:
            interval -= 12 if interval > 0 else -12
        return interval

    def rest_values(self, ticks: int) -> list[str]:
        """Rest values covering `ticks` grid steps, none longer than max_duration_beats."""
        longest = round(self.max_duration_beats * self.grid_per_beat)
        values = []
        while ticks > 0:
            step = min(ticks, longest)
            values.append(f"R,{Fraction(step, self.grid_per_beat)}")
            ticks -= step
        return values

    def encode(self, score: Score) -> list[str]:
        """A score -> its values (quantizing it first), one per note or rest, in order."""
        return self.tokens(self.quantize_score(score)[0])

    def tokens(self, quantized: Score) -> list[str]:
        """The values of a score whose notes are on the grid already (no quantization).

        A gap before the first note or between notes becomes rest values; the interval of a
        note is taken from the previous *note*, across any rest.
        """
        g = self.grid_per_beat
        values: list[str] = []
        cursor, previous = 0, None
        for note in quantized.notes:
            tick, ticks = round(note.start_beat * g), round(note.duration_beats * g)
            values += self.rest_values(tick - cursor)
            value = f"{note_type(note.pitch, quantized.chord_at(note.start_beat))}"
            value += f",{Fraction(ticks, g)}"
            if previous is not None:
                leap = self._fold(note.pitch - previous)
                value += f",<{leap - self.window},{leap + self.window}>"
            values.append(value)
            cursor, previous = tick + ticks, note.pitch
        return values

    # -- decode ---------------------------------------------------------------------------

    def _into_range(self, pitch: float) -> float:
        """Shift by octaves into [low_pitch, high_pitch]."""
        while pitch > self.high_pitch:
            pitch -= 12
        while pitch < self.low_pitch:
            pitch += 12
        return pitch

    @staticmethod
    def _nearest(pitches: list[int], centre: float, rng: np.random.Generator) -> int:
        """The pitch nearest `centre`; rng breaks ties."""
        best = min(abs(p - centre) for p in pitches)
        ties = [p for p in pitches if abs(p - centre) == best]
        return ties[0] if len(ties) == 1 else ties[int(rng.integers(len(ties)))]

    def _choose_pitch(
        self,
        kind: str,
        chord: Chord | None,
        previous: int | None,
        window: tuple[int, int] | None,
        start_pitch: int | None,
        rng: np.random.Generator,
    ) -> int:
        """A pitch of TYPE `kind` over `chord`, inside the window from `previous` if it can."""
        playable = range(self.low_pitch, self.high_pitch + 1)
        # A TYPE no pitch can have (C with no chord sounding) leaves the window to decide.
        fits = [p for p in playable if note_type(p, chord) == kind] or list(playable)
        if previous is None:  # first note: no window
            if start_pitch in fits:
                return start_pitch
            if start_pitch is not None:
                return self._nearest(fits, self._into_range(start_pitch), rng)
            middle = (self.low_pitch + self.high_pitch) / 2
            near = [p for p in fits if abs(p - middle) <= 6]
            return int(rng.choice(near))
        low, high = window or (0, 0)  # a later note without a window stays near the last
        centre = previous + (low + high) / 2
        if low + high == 0 and low <= 0 and self.low_pitch <= previous <= self.high_pitch:
            # The value repeats the last pitch: the repeat is heard more than its TYPE is
            # (the network may have chosen the TYPE without knowing the chord just changed).
            return previous
        if low + high != 0:
            # The value moved away from the last pitch (its window is the interval +- window):
            # landing on the last pitch again would add a repeat the player never played.
            fits = [p for p in fits if p != previous] or fits
        inside = [p for p in fits if previous + low <= p <= previous + high]
        return self._nearest(inside or fits, centre if inside else self._into_range(centre), rng)

    def decode(
        self,
        tokens: Sequence[str],
        *,
        chords: Sequence[ChordSpan] = (),
        rng: np.random.Generator,
        start_pitch: int | None = None,
        time_signature: tuple[int, int] = (4, 4),
        tempo_qpm: float = 120.0,
    ) -> Score:
        """Values -> a monophonic score over `chords`, notes laid end to end from beat 0.

        Each note takes the pitch of its TYPE (against the chord at its onset) inside its
        window, nearest the window's centre; failing that the pitch of its TYPE nearest the
        centre; always within [low_pitch, high_pitch]. Tokens that are not values are skipped.

        Args:
            tokens: values, possibly with specials ('<bos>', '<unk>').
            chords: the changes to play over (spans in beats); they go into the score.
            rng: breaks ties between equally near pitches and picks the first pitch;
                the same seed gives the same score.
            start_pitch: the first note's pitch, if it has the first note's TYPE.
            time_signature, tempo_qpm: copied into the score.

        Returns:
            The Score: notes (velocity 90) and `chords`; beats from 0.
        """
        line = LineDecoder(self, chords, rng, start_pitch)
        for token in tokens:
            line.feed(token)
        return Score(tuple(line.notes), tuple(chords), time_signature, tempo_qpm)


class LineDecoder:
    """`ValuesTokenizer.decode`, one value at a time: the pitches so far, for whoever needs them
    while values are still being drawn (a model told where its line is, `music.conditioning`).

    Feeding the same values with the same settings and random stream gives decode's notes.
    """

    def __init__(self, tokenizer: ValuesTokenizer, chords: Sequence[ChordSpan], rng: np.random.Generator,
                 start_pitch: int | None = None):
        self.tokenizer, self.rng, self.start_pitch = tokenizer, rng, start_pitch
        self.harmony = Score(notes=(), chords=tuple(chords))
        self.time = Fraction(0)                                           # beats from the first value
        self.notes: list[Note] = []

    @property
    def previous(self) -> int | None:
        """The last note's pitch (None before the first note)."""
        return self.notes[-1].pitch if self.notes else None

    def feed(self, token: str) -> Note | None:
        """Decode one token; returns its note (None for rests and specials, which carry no pitch)."""
        try:
            kind, duration, window = parse_value(token)
        except ValueError:
            return None  # specials carry no music
        note = None
        if kind != "R":
            chord = self.harmony.chord_at(float(self.time))
            pitch = self.tokenizer._choose_pitch(kind, chord, self.previous, window, self.start_pitch, self.rng)
            note = Note(pitch, float(self.time), float(duration))
            self.notes.append(note)
        self.time += duration
        return note


@dataclass(frozen=True)
class Decoding:
    """How one solo's drawn values become notes: the same for the output (`decode`) and for a
    model told about its line while the values are drawn (`line`), so the two cannot disagree.

    Attributes:
        tokenizer: its settings (the playable range) decide the pitches.
        chords: the changes the values play over, from the first drawn value's onset.
        seed: the random stream that picks the first pitch and breaks ties.
        start_pitch: the first note's pitch if it has the first note's TYPE (after a primer).
    """

    tokenizer: ValuesTokenizer
    chords: tuple[ChordSpan, ...]
    seed: tuple[int, ...]
    start_pitch: int | None = None

    def line(self) -> LineDecoder:
        """A fresh one-value-at-a-time decoder."""
        return LineDecoder(self.tokenizer, self.chords, np.random.default_rng(list(self.seed)), self.start_pitch)

    def decode(self, tokens: Sequence[str], **score_settings) -> Score:
        """The notes of `tokens` (`ValuesTokenizer.decode`; time_signature, tempo_qpm passed on)."""
        return self.tokenizer.decode(tokens, chords=self.chords, rng=np.random.default_rng(list(self.seed)),
                                     start_pitch=self.start_pitch, **score_settings)
