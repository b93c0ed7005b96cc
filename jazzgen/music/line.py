"""Where a values line is, for a model told about it while it plays (`music.conditioning`).

A value names a TYPE against the chord and an interval, never a pitch. `MelodyState` keeps what
the decoded pitches say (the last note's pitch class against the chord, its register, how far it
is from its recent mean) beside the tempo, and from version 3 which TYPE each interval from the
last note lands on (`interval_types`); `playable_values` says which values the line can play as
written from where it is: the values whose interval lands on their own TYPE.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Sequence

import numpy as np

from jazzgen.music.values import note_type, parse_value

TEMPO_EDGES = (100.0, 140.0, 180.0, 220.0, 270.0)  # quarter notes per minute; WJD quartiles 125/171/225
REGISTER_BINS = 8                                  # equal parts of the playable range
LOCAL_NOTES = 16                                   # notes in the recent mean the line is measured from
MELODY_BLOCKS = (("tempo", len(TEMPO_EDGES) + 1), ("pitch_class", 13), ("register", REGISTER_BINS),
                 ("local", 1))
MELODY_WIDTH = sum(n for _, n in MELODY_BLOCKS)
# Version 3: per interval -REACH..REACH from the last note, the TYPE of the pitch it lands on
# (one-hot C/S/A/X; all zero off the playable range). The values' leaps fold into +-max_interval
# (12 by default), so these are all the intervals a value can name.
REACH = 12
INTERVAL_BLOCK = ("interval_types", (2 * REACH + 1) * 4)


KIND_CODES = {"C": 0, "S": 1, "A": 2, "X": 3}


@functools.lru_cache(maxsize=8)  # once per vocabulary
def value_kinds(tokens: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per token: its TYPE's code when it names an interval (-1: rests, specials, first notes)
    and the interval it names (its window's centre) # (V,) int64, (V,) int64; read-only."""
    kinds, leaps = np.full(len(tokens), -1, np.int64), np.zeros(len(tokens), np.int64)
    for k, token in enumerate(tokens):
        try:
            kind, _, window = parse_value(token)
        except ValueError:
            continue
        if window is not None:
            kinds[k], leaps[k] = KIND_CODES[kind], (window[0] + window[1]) // 2
    kinds.flags.writeable = leaps.flags.writeable = False
    return kinds, leaps


@functools.lru_cache(maxsize=8)  # once per vocabulary
def chord_tone_values(tokens: tuple[str, ...]) -> np.ndarray:
    """Which tokens play a chord tone of the chord at their onset # (V,) bool; read-only.

    The values of TYPE C. A model told about its line draws an interval only where it lands on
    the value's own TYPE (`playable_values`: `landing_kinds` at the interval == its TYPE), so
    there these are exactly the drawable values that land on a chord tone; a plain values model's
    decoding picks a pitch of the value's TYPE too (bar a repeated pitch, which keeps the last
    one, and a chord-less onset, which has no chord tone).
    """
    out = np.zeros(len(tokens), bool)
    for k, token in enumerate(tokens):
        try:
            out[k] = parse_value(token)[0] == "C"
        except ValueError:
            continue
    out.flags.writeable = False
    return out


def playable_values(tokens: Sequence[str], previous: int, chord, low_pitch: int, high_pitch: int) -> np.ndarray:
    """Which values can be played as written after `previous` over `chord` # (V,) bool.

    A value that names an interval is playable when the pitch it names is of its TYPE and in
    [low_pitch, high_pitch]: every value in the corpus is (it was read off a played note), and
    decoding otherwise bends the interval or jumps an octave to find its TYPE. Rests, specials
    and values without an interval are always playable.
    """
    kinds, leaps = value_kinds(tuple(tokens))
    reach = max(REACH, int(np.abs(leaps).max(initial=0)))
    codes = landing_kinds(previous, chord, low_pitch, high_pitch, reach)
    return (kinds < 0) | (codes[leaps + reach] == kinds)


@functools.lru_cache(maxsize=1 << 16)  # (pitch, chord) pairs recur all through a corpus
def landing_kinds(previous: int, chord, low_pitch: int, high_pitch: int, reach: int = REACH) -> np.ndarray:
    """The TYPE code (`KIND_CODES`) of the pitch each interval -reach..reach from `previous`
    lands on over `chord`, -2 off [low_pitch, high_pitch] # (2 reach + 1,) int64; read-only.
    The one rule behind both `playable_values` and `interval_types`."""
    codes = np.array([KIND_CODES[note_type(p, chord)] if low_pitch <= p <= high_pitch else -2
                      for p in range(previous - reach, previous + reach + 1)], np.int64)
    codes.flags.writeable = False
    return codes


@functools.lru_cache(maxsize=1 << 16)  # (pitch, chord) pairs recur all through a corpus
def interval_types(previous: int, chord, low_pitch: int, high_pitch: int) -> np.ndarray:
    """The TYPE each interval -REACH..REACH from `previous` lands on over `chord`, one-hot
    # (INTERVAL_BLOCK width,) = (2 * REACH + 1 intervals x C/S/A/X); read-only.

    A value with interval i and TYPE t is playable exactly where entry (i, t) is 1
    (`playable_values`): the network is told what the mask will allow, so it need not learn
    pitch-class arithmetic to put its probability on values the line can play. (Told only the
    pitch class, the version-2 default put 22% of its probability on unplayable values, and
    renormalising over the rest played repeated pitches 10% more often than it predicted them.)
    """
    codes = landing_kinds(previous, chord, low_pitch, high_pitch)
    out = np.zeros((2 * REACH + 1, 4), np.float32)
    landed = codes >= 0
    out[np.flatnonzero(landed), codes[landed]] = 1.0
    out = out.reshape(-1)
    out.flags.writeable = False
    return out


def tempo_column(tempo_qpm: float) -> int:
    """Which `TEMPO_EDGES` bin a tempo falls in (0 = slowest)."""
    return int(np.searchsorted(TEMPO_EDGES, tempo_qpm, side="right"))


class MelodyState:
    """The tempo and where the line is, fed one decoded note at a time (training and sampling alike).

    Args:
        tempo_qpm: quarter notes per minute.
        low_pitch, high_pitch: the playable range the register is measured in.
        intervals: version 3: rows also say which TYPE each interval lands on (`interval_types`).
    """

    def __init__(self, tempo_qpm: float, low_pitch: int, high_pitch: int, intervals: bool = False):
        self.tempo = tempo_column(tempo_qpm)
        self.low, self.high = low_pitch, high_pitch
        self.intervals = intervals
        self.width = MELODY_WIDTH + (INTERVAL_BLOCK[1] if intervals else 0)
        self.recent: deque[int] = deque(maxlen=LOCAL_NOTES)

    def feed(self, pitch: int | None) -> None:
        """The line after one value: the pitch it decoded to (None: a rest or a special)."""
        if pitch is not None:
            self.recent.append(pitch)

    def row(self, root: int | None, chord=None) -> np.ndarray:
        """The melody blocks (`MELODY_BLOCKS`, then `INTERVAL_BLOCK` with `intervals`) for an
        onset where `chord` (root `root`) sounds # (self.width,)."""
        out = np.zeros(self.width, np.float32)
        out[self.tempo] = 1.0
        col = len(TEMPO_EDGES) + 1
        if not self.recent:
            out[col + 12] = 1.0                                           # no note yet: no pitch class
            return out
        pitch = self.recent[-1]
        out[col + (12 if root is None else (pitch - root) % 12)] = 1.0
        col += 13
        share = (pitch - self.low) / max(1, self.high - self.low + 1)
        out[col + int(np.clip(share * REGISTER_BINS, 0, REGISTER_BINS - 1))] = 1.0
        out[MELODY_WIDTH - 1] = np.clip((pitch - np.mean(self.recent)) / 12.0, -1.5, 1.5)
        if self.intervals:
            out[MELODY_WIDTH:] = interval_types(pitch, chord, self.low, self.high)
        return out
