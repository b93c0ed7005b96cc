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

Whether a note is heard tied to the next depends on the gap, value x (1 - ratio), not the ratio:
under 1/24 beat it touches, i.e. a ratio over 0.5 for a value of one tick, 0.75 for two, 0.83 for
three, 0.96 for a beat. So short values get a class per tick, the ratios fine bins, and a note
the player held to the next onset its own bin (drawn back as exactly held). Pooled (1-3 ticks in
one class, 20 bins, the top one drawn anywhere in [0.95, 1)), the players' own values rendered
tied 16.9% of their repeats against their 16.2% over the training solos, sounding 0.639 of the
time against 0.647; as now 16.2% and 0.642. Tables of the first layout (`LAYOUTS[1]`, runs made
before) keep their classes and bins and render as they did.

How loud notes are is learned beside this, from the velocities the WJD release MIDI gives
(`music.dynamics`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from jazzgen.music.score import Score

BINS = 100  # ratio histogram bins over (0, 1), then one for notes held to the next onset
# Upper bounds (inclusive) of the value-length classes, in ticks of 12 per quarter note: one per
# tick up to an eighth, then up to a dotted eighth, up to a quarter, longer.
DURATION_CLASSES = (1, 2, 3, 4, 5, 6, 9, 12, 10**9)
# The pooled classes of layout 1 (and of `dynamics`): up to a sixteenth, a triplet eighth, an
# eighth, up to a dotted eighth, up to a quarter, longer.
POOLED_CLASSES = (3, 4, 6, 9, 12, 10**9)
# Per layout of the counts: (duration classes, bins, whether held notes have their own bin).
# Layout 1: corpora and runs made before held notes and per-tick classes were counted.
LAYOUTS = {1: (POOLED_CLASSES, 20, False), 2: (DURATION_CLASSES, BINS, True)}
LAYOUT = 2  # what `articulation_counts` writes (a corpus piece's "articulation_layout")
CONTEXTS = ("repeat", "legato", "rest")
MIN_SOUND_BEATS = 1 / 24  # never shorter than a 64th-triplet: a note must be heard
GRID = 12  # ticks per quarter note the classes are counted in


def duration_class(beats: float, classes: tuple[int, ...] = DURATION_CLASSES) -> int:
    """Index of the value-length class (`classes`, upper bounds in ticks) of a value lasting `beats`."""
    ticks = round(beats * GRID)
    return next(i for i, top in enumerate(classes) if ticks <= top)


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
    """Ratio histogram counts of one piece, sparse: {"class,context,bin": count} (`LAYOUT`;
    bin BINS: the note sounded to the next onset or beyond).

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
        ratio = sounded / note.duration_beats
        b = BINS if ratio >= 1.0 else min(int(ratio * BINS), BINS - 1)
        key = f"{duration_class(note.duration_beats)},{context},{b}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def articulation_table(pieces_counts: Iterable[tuple[dict[str, int], int]]) -> dict:
    """Sum per-piece counts, each with its layout (`LAYOUTS`), into the table a run keeps
    (`articulation.json`). Counts of the current layout fold exactly into layout 1 (its classes
    and bins are unions of ours), which the table takes when any piece was counted that way."""
    pieces_counts = list(pieces_counts)
    layout = min((lay for _, lay in pieces_counts), default=LAYOUT)
    classes, bins, held = LAYOUTS[layout]
    table = np.zeros((len(classes), len(CONTEXTS), bins + held), np.int64)
    for counts, lay in pieces_counts:
        from_classes, from_bins, _ = LAYOUTS[lay]
        for key, n in counts.items():
            d, c, b = (int(x) for x in key.split(","))
            if lay != layout:  # a value's class by its longest tick; a ratio's bin by its low end
                d = duration_class(min(from_classes[d], 10**8) / GRID, classes)
                b = min(b * bins // from_bins, bins - 1)
            table[d, c, b] += n
    return {"bins": bins, "duration_classes": list(classes), "contexts": list(CONTEXTS),
            "grid": GRID, "held": held, "counts": table.tolist()}


def sounding_ratios(table: dict) -> np.ndarray:
    """Per class and context the cumulative ratio distribution # (classes, contexts, bins [+ held]).

    A class/context pair seen fewer than 20 times borrows the class's pooled counts, and a class
    never seen at all sounds its full value.
    """
    counts = np.asarray(table["counts"], float)                                # (D, C, BINS)
    pooled = counts.sum(axis=1, keepdims=True)                                 # (D, 1, BINS)
    thin = counts.sum(axis=2, keepdims=True) < 20
    counts = np.where(thin, pooled, counts)
    empty = counts.sum(axis=2) == 0
    counts[empty, -1] = 1.0  # nothing known: full length (held, or the top bin of layout 1)
    return np.cumsum(counts, axis=2) / counts.sum(axis=2, keepdims=True)


def articulate(score: Score, table: dict, rng: np.random.Generator) -> Score:
    """The score with each note shortened by a ratio drawn from the learned table.

    Onsets never move; only note ends come earlier. The draw is uniform inside the drawn bin;
    the held bin (tables with "held") sounds the whole value. A table is read in its own classes
    and bins, so a run's older table renders as it always did.
    """
    cdf = sounding_ratios(table)
    classes, bins, held = tuple(table["duration_classes"]), int(table["bins"]), bool(table.get("held"))
    notes = score.notes
    out = []
    for note, context in zip(notes, _contexts(notes), strict=True):
        row = cdf[duration_class(note.duration_beats, classes), context]       # (bins [+ 1],)
        b = int(np.searchsorted(row, rng.random(), side="right"))
        inside = rng.random()  # drawn for every note: one stream whatever the table
        ratio = 1.0 if held and b >= bins else (min(b, bins - 1) + inside) / bins
        sound = max(note.duration_beats * ratio, min(MIN_SOUND_BEATS, note.duration_beats))
        out.append(replace(note, duration_beats=sound))
    return replace(score, notes=tuple(out))
