"""Instruments the soloist can be, with their sounding ranges, and the dynamics a player adds.

Ranges are the practical sounding (concert) range of each instrument in MIDI pitches; the
decoder keeps every note inside it. Dynamics turn the flat velocities the model produces into
accents (downbeats, long notes, the top of a line) inside a phrase arc that swells towards the
phrase's highest note and relaxes after it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from jazzgen.errors import UsageError
from jazzgen.music.score import Note, phrase_numbers


@dataclass(frozen=True)
class Instrument:
    """A General MIDI instrument with its sounding range.

    Attributes:
        name: the name users type ("tenor sax").
        program: General MIDI program 0..127 (0-based: 65 = alto sax).
        low, high: lowest and highest sounding MIDI pitch the part may use (>= an octave apart).
    """

    name: str
    program: int
    low: int
    high: int

    def __post_init__(self) -> None:
        if not 0 <= self.program <= 127 or not 0 <= self.low <= self.high - 11 <= 116:
            raise ValueError(f"bad instrument {self}")


# Sounding ranges (concert pitch): tenor Ab2-E5, alto Db3-Ab5, trumpet E3-Bb5, trombone E2-F4.
INSTRUMENTS = {i.name: i for i in (
    Instrument("tenor sax", 66, 44, 76),
    Instrument("alto sax", 65, 49, 80),
    Instrument("soprano sax", 64, 56, 87),
    Instrument("baritone sax", 67, 36, 69),
    Instrument("trumpet", 56, 52, 82),
    Instrument("trombone", 57, 40, 65),
    Instrument("clarinet", 71, 50, 86),
    Instrument("flute", 73, 60, 93),
    Instrument("guitar", 26, 45, 84),  # jazz guitar, the register single-note lines use
    Instrument("piano", 0, 48, 88),  # the right hand's solo register
    Instrument("vibes", 11, 53, 89),
)}
ALIASES = {"tenor": "tenor sax", "sax": "tenor sax", "alto": "alto sax", "soprano": "soprano sax",
           "bari": "baritone sax", "baritone": "baritone sax", "trumpet": "trumpet", "trpt": "trumpet",
           "bone": "trombone", "vibraphone": "vibes", "jazz guitar": "guitar"}
DEFAULT = "tenor sax"
GENERIC_RANGE = (48, 84)  # for a bare GM program number that is none of the above


def find_instrument(name: str | int | None) -> Instrument:
    """An instrument by name ("alto sax", "alto", "Trumpet") or General MIDI program (0..127).

    A program number of a listed instrument gets that instrument's range, any other program
    the generic range C3-C6.

    Raises:
        UsageError: an unknown name or a program outside 0..127 (the message lists the names).
    """
    if name is None:
        return INSTRUMENTS[DEFAULT]
    text = str(name).strip().lower()
    if text.isdigit():
        program = int(text)
        if not 0 <= program <= 127:
            raise UsageError(f"--instrument {name}: a General MIDI program is 0..127")
        known = next((i for i in INSTRUMENTS.values() if i.program == program), None)
        return known or Instrument(f"program {program}", program, *GENERIC_RANGE)
    text = ALIASES.get(text, text)
    if text not in INSTRUMENTS:
        raise UsageError(f"--instrument {name!r}: unknown (known: {', '.join(INSTRUMENTS)}, or a GM program 0-127)")
    return INSTRUMENTS[text]


def shape_dynamics(notes: tuple[Note, ...] | list[Note], beats_per_bar: float = 4.0,
                   base: int = 78, phrase_gap_beats: float = 1.0) -> tuple[Note, ...]:
    """Velocities from accent and phrase instead of one constant.

    A phrase is a run of notes with no rest of `phrase_gap_beats` or more inside it. In a
    phrase velocities rise towards its highest note and fall after it (up to +-12); on top,
    a downbeat adds 10, another beat 4, an offbeat eighth 2 (the swing player's lift); a note of
    a beat or longer adds 6 and a very short one (under a sixteenth triplet's two) loses 8.

    Args:
        notes: the melody (monophonic, sorted).
        beats_per_bar: quarter notes per bar, for the downbeats.
        base: the velocity of an unaccented note in the middle of a phrase.

    Returns:
        The same notes with new velocities in 1..127.
    """
    notes = list(notes)
    phrases: list[list[int]] = []
    for i, number in enumerate(phrase_numbers(notes, phrase_gap_beats)):
        if number == len(phrases):
            phrases.append([])
        phrases[-1].append(i)
    shaped = list(notes)
    for phrase in phrases:
        peak = max(phrase, key=lambda k: (notes[k].pitch, -k))
        for k in phrase:
            # Position on the arc: 0 at the phrase's ends, 1 at its highest note.
            if k <= peak:
                arc = (k - phrase[0] + 1) / (peak - phrase[0] + 1)
            else:
                arc = (phrase[-1] - k + 1) / (phrase[-1] - peak + 1)
            velocity = base - 12 + 24 * arc
            beat = notes[k].start_beat
            in_bar = beat % beats_per_bar
            if abs(in_bar) < 1e-6:
                velocity += 10
            elif abs(beat - round(beat)) < 1e-6:
                velocity += 4
            elif abs(beat % 1 - 0.5) < 1e-6 or abs(beat % 1 - 2 / 3) < 1e-6:
                velocity += 2
            if notes[k].duration_beats >= 1 - 1e-9:
                velocity += 6
            elif notes[k].duration_beats < 1 / 3 - 1e-9:
                velocity -= 8
            shaped[k] = replace(notes[k], velocity=int(min(127, max(1, round(velocity)))))
    return tuple(shaped)
