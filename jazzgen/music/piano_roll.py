"""Draw a MIDI file as a piano roll (PNG): notes coloured by part, bar lines, chord names.

matplotlib is imported inside `render_png`, so importing this module stays cheap.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from jazzgen.core.files import atomic_path
from jazzgen.music.roll import Roll, read_roll


def _bar_starts(roll: Roll, end_beat: float) -> list[float]:
    """Bar starts in beats up to `end_beat`; each time signature starts a new bar."""
    tpb = roll.ticks_per_beat
    sigs = roll.time_signatures
    starts: list[float] = []
    for i, (tick, num, den) in enumerate(sigs):
        seg_start = tick / tpb
        seg_end = sigs[i + 1][0] / tpb if i + 1 < len(sigs) else end_beat
        bar = num * 4.0 / den
        n_bars = max(1, math.ceil((seg_end - seg_start) / bar - 1e-9))
        starts.extend(seg_start + k * bar for k in range(n_bars))
    return starts


def _note_box(start: float, end: float, pitch: int) -> list[tuple[float, float]]:
    """The corners of one note's rectangle on the piano roll (x in beats, y in pitch)."""
    low, high = pitch - 0.42, pitch + 0.42
    return [(start, low), (end, low), (end, high), (start, high)]


def render_png(
    midi_path: str | os.PathLike, png_path: str | os.PathLike, title: str | None = None
) -> None:
    """Draw a MIDI file as a piano roll (about 1600x600 px).

    Melody and chord notes have distinct colours; bar lines follow the time signatures (4/4
    when none); chord names from the marker events are written at each chord change; the x axis
    is numbered in bars.

    Args:
        midi_path: the MIDI file to draw.
        png_path: the PNG file to write (atomically).
        title: the picture's title; the file name when None.

    Raises:
        JazzgenError: unreadable MIDI or no notes.
    """
    # Figure + the Agg canvas directly: no pyplot, so no global backend or figure state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory

    roll = read_roll(midi_path)
    tpb = roll.ticks_per_beat
    end_beat = max(roll.end_tick, max(n.end_tick for n in roll.notes)) / tpb
    bars = _bar_starts(roll, end_beat)
    right = max(end_beat, bars[-1] + 1e-9)

    fig = Figure(figsize=(16, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    at_bottom_top = blended_transform_factory(ax.transData, ax.transAxes)  # x: beats, y: 0..1
    colours = {"chords": "#4a90c2", "melody": "#d1495b", "bass": "#6a994e"}
    for part in ("bass", "chords", "melody"):  # melody last, so it is drawn on top
        # One PolyCollection per part: a patch per note is ~100x slower on a long solo.
        boxes = [
            _note_box(n.start_tick / tpb, n.end_tick / tpb, n.pitch)
            for n in roll.notes
            if n.part == part
        ]
        alpha = 0.65 if part == "chords" else 0.95
        ax.add_collection(PolyCollection(boxes, facecolors=colours[part], alpha=alpha))
    pitches = [n.pitch for n in roll.notes if n.part != "drums"]  # drum keys are not pitches
    low, high = min(pitches) - 2, max(pitches) + 7  # room at the top for chord names
    ax.set_ylim(low, high)
    ax.set_xlim(0, right)

    # Bar lines, heavier every 4 bars (a phrase), and the x axis numbered in bars.
    grey = ["0.55" if k % 4 == 0 else "0.85" for k in range(len(bars))]
    ax.vlines(bars, 0, 1, transform=at_bottom_top, colors=grey, linewidth=0.8, zorder=0)
    step = max(1, math.ceil(len(bars) / 40))  # at most ~40 labels, to stay readable
    ax.set_xticks(bars[::step], [str(k + 1) for k in range(0, len(bars), step)])
    ax.set_xlabel("bar")

    # Pitch axis labelled at every C.
    cs = [p for p in range(math.ceil(low), math.floor(high) + 1) if p % 12 == 0]
    ax.set_yticks(cs, [f"C{p // 12 - 1}" for p in cs])
    ax.set_ylabel("pitch")

    # Chord names at each change, alternating between two rows so close changes do not collide.
    previous = None
    row = 0
    for tick, text in roll.markers:
        if text == previous:
            continue
        previous = text
        text = _lead_sheet_name(text)
        y = 0.975 - 0.04 * row
        ax.text(tick / tpb, y, text, transform=at_bottom_top, fontsize=8, va="top", clip_on=True)
        row = 1 - row

    present = [p for p in ("melody", "chords", "bass") if any(n.part == p for n in roll.notes)]
    ax.legend(
        handles=[Patch(color=colours[p], label=p) for p in present], loc="lower right", fontsize=8
    )
    ax.set_title(title if title is not None else Path(midi_path).name)
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png")


def _lead_sheet_name(text: str) -> str:
    """A chord marker in lead-sheet spelling ("Ebj7" -> "Ebmaj7"); other text as it is."""
    from jazzgen.errors import ChordParseError
    from jazzgen.music.chords import parse_chord
    from jazzgen.music.spelling import spell

    try:
        return spell(parse_chord(text))
    except ChordParseError:
        return text
