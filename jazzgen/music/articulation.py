"""How long players hold their notes: a table learned from the corpus, drawn from when decoding.

Both grammars write a note's *value* (where the next event starts), not how long it sounds: a
quantized corpus fills the gap to the next onset when the note sounded at least half of it. The
table keeps, for every kind of value, the distribution of the sounding ratio

    ratio = recorded duration / value duration, clipped to (0, 1]

over the corpus's notes, split by the value's length (`DURATION_CLASSES`, in grid ticks) and by
what follows it (`CONTEXTS`: the same pitch touching it, another note touching it, a rest or the
end). Decoding draws a ratio from the matching histogram, so generated notes breathe as the
players' do instead of all lasting their full value (which also makes a repeated pitch sound as
one tied note).

How loud notes are is learned beside this, from the velocities the WJD release MIDI gives
(`music.dynamics`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from jazzgen.music.score import Score

BINS = 20  # ratio histogram bins over (0, 1]
# Upper bounds (inclusive) of the value-length classes, in ticks of 12 per quarter note:
# up to a sixteenth, a triplet eighth, an eighth, up to a dotted eighth, up to a quarter, longer.
DURATION_CLASSES = (3, 4, 6, 9, 12, 10**9)
CONTEXTS = ("repeat", "legato", "rest")
MIN_SOUND_BEATS = 1 / 24  # never shorter than a 64th-triplet: a note must be heard
GRID = 12  # ticks per quarter note the classes are counted in


def duration_class(beats: float) -> int:
    """Index of the value-length class (`DURATION_CLASSES`) of a value lasting `beats`."""
    ticks = round(beats * GRID)
    return next(i for i, top in enumerate(DURATION_CLASSES) if ticks <= top)


def _contexts(notes) -> list[int]:
    """CONTEXTS index of every note: what follows it (same pitch touching, other note, gap)."""
    out = []
    for a, b in zip(notes, list(notes[1:]) + [None]):
        if b is None or b.start_beat > a.end_beat + 1e-6:
            out.append(2)
        else:
            out.append(0 if b.pitch == a.pitch else 1)
    return out


def articulation_counts(raw: Score, quantized: Score) -> dict[str, int]:
    """Ratio histogram counts of one piece, sparse: {"class,context,bin": count}.

    Args:
        raw: the score as read (recorded durations).
        quantized: the same melody quantized by a tokenizer on the 12-per-beat grid (the values
            the network sees). Each quantized note is paired with the recorded note it came
            from by snapping onsets again (of notes snapping to one onset the longest was kept).
    """
    from jazzgen.music.values import ValuesTokenizer

    snap = ValuesTokenizer(grid_per_beat=GRID)._snap
    by_tick: dict[int, float] = {}
    for note in raw.notes:
        tick = snap(note.start_beat)
        by_tick[tick] = max(by_tick.get(tick, 0.0), note.duration_beats)
    counts: dict[str, int] = {}
    notes = quantized.notes
    for note, context in zip(notes, _contexts(notes), strict=True):
        sounded = by_tick.get(round(note.start_beat * GRID))
        if sounded is None:
            continue
        ratio = min(sounded / note.duration_beats, 1.0)
        key = f"{duration_class(note.duration_beats)},{context},{min(int(ratio * BINS), BINS - 1)}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def articulation_table(pieces_counts: Iterable[dict[str, int]]) -> dict:
    """Sum per-piece counts into the table a run keeps (`articulation.json`)."""
    table = np.zeros((len(DURATION_CLASSES), len(CONTEXTS), BINS), np.int64)
    for counts in pieces_counts:
        for key, n in counts.items():
            d, c, b = (int(x) for x in key.split(","))
            table[d, c, b] += n
    return {"bins": BINS, "duration_classes": list(DURATION_CLASSES), "contexts": list(CONTEXTS),
            "grid": GRID, "counts": table.tolist()}


def sounding_ratios(table: dict) -> np.ndarray:
    """Per class and context the cumulative ratio distribution # (classes, contexts, BINS).

    A class/context pair seen fewer than 20 times borrows the class's pooled counts, and a class
    never seen at all sounds its full value.
    """
    counts = np.asarray(table["counts"], float)                                # (D, C, BINS)
    pooled = counts.sum(axis=1, keepdims=True)                                 # (D, 1, BINS)
    thin = counts.sum(axis=2, keepdims=True) < 20
    counts = np.where(thin, pooled, counts)
    empty = counts.sum(axis=2) == 0
    counts[empty, -1] = 1.0  # nothing known: full length
    return np.cumsum(counts, axis=2) / counts.sum(axis=2, keepdims=True)


def articulate(score: Score, table: dict, rng: np.random.Generator) -> Score:
    """The score with each note shortened by a ratio drawn from the learned table.

    Onsets never move; only note ends come earlier. The draw is uniform inside the drawn bin.
    """
    cdf = sounding_ratios(table)
    notes = score.notes
    out = []
    for note, context in zip(notes, _contexts(notes), strict=True):
        row = cdf[duration_class(note.duration_beats), context]                # (BINS,)
        b = int(np.searchsorted(row, rng.random(), side="right"))
        ratio = (min(b, BINS - 1) + rng.random()) / BINS
        sound = max(note.duration_beats * ratio, min(MIN_SOUND_BEATS, note.duration_beats))
        out.append(replace(note, duration_beats=sound))
    return replace(score, notes=tuple(out))
