"""The lead sheet the page shows: a small SVG engraver (MusicXML comes from `music.notation`).

The SVG is drawn here rather than by a notation program so the page needs nothing installed:
a treble staff, four bars to a line, chord symbols above, note heads at their written pitch
(sharps spelling), stems and flags by duration, ledger lines, each head coloured by the note's
role. Notes sit at positions proportional to their beat in the bar, so the page's playhead
moves across a bar at the same rate as the music; `layout` tells it where each bar is.
"""

from __future__ import annotations

from bisect import bisect_right
from xml.sax.saxutils import escape

from jazzgen.music.score import Score

BARS_PER_LINE = 4
BAR_WIDTH = 220  # px
LEFT = 48  # px before the first bar of a line (bar number, meter)
LINE_HEIGHT = 112  # px from one system to the next
STAFF_TOP = 44  # px from a line's top to its top staff line
SPACE = 8  # px between staff lines
PAD = 14  # px inside a bar before the first beat and after the last
ROLE_COLOURS = {"chord": "#1f6fb4", "scale": "#2a9d3a", "approach": "#e07b00", "other": "#c62828"}
# Letter (0 = C ... 6 = B) and sharp of each pitch class, spelled with sharps.
_SPELLING = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 0), (3, 1), (4, 0), (4, 1), (5, 0), (5, 1), (6, 0)]
_E4_STEP = 4 * 7 + 2  # diatonic step of the bottom line of the treble staff


def _step(pitch: int) -> tuple[int, bool]:
    """Diatonic step (C-1 = 0, one per letter) and whether a sharp is written."""
    letter, sharp = _SPELLING[pitch % 12]
    return (pitch // 12 - 1) * 7 + letter, bool(sharp)


def bar_box(bar: int, lines_top: float = 0.0) -> tuple[float, float]:
    """(x, y) of the top-left of bar `bar` (from 0): its left bar line and its line's top."""
    return LEFT + (bar % BARS_PER_LINE) * BAR_WIDTH, lines_top + (bar // BARS_PER_LINE) * LINE_HEIGHT


def engrave(score: Score, chart) -> tuple[str, dict]:
    """The solo over its chart (a `jazzgen.music.charts.Chart`) as an SVG lead sheet, and its layout.

    Returns:
        (svg text, layout): layout["bars"] holds each bar's x, y, width, height, start (beat)
        and beats, and layout["pad"] the px before a bar's first beat, for the page's playhead.
    """
    from jazzgen.music.charts import spell
    from jazzgen.web.studio import roles

    starts = chart.bar_starts()
    bars = len(starts)
    lines = max(1, -(-bars // BARS_PER_LINE))
    width, height = LEFT + BARS_PER_LINE * BAR_WIDTH + 8, lines * LINE_HEIGHT + 8
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="leadsheet" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" font-family="sans-serif">']
    boxes = []
    previous_meter = None
    for bar, (start, written) in enumerate(zip(starts, chart.bars, strict=True)):
        x, y = bar_box(bar)
        top = y + STAFF_TOP
        boxes.append({"x": x, "y": y, "width": BAR_WIDTH, "height": LINE_HEIGHT, "start": start,
                      "beats": written.beats})
        for k in range(5):
            out.append(f'<line x1="{x}" x2="{x + BAR_WIDTH}" y1="{top + k * SPACE}" y2="{top + k * SPACE}" '
                       f'stroke="#555" stroke-width="1"/>')
        out.append(f'<line x1="{x + BAR_WIDTH}" x2="{x + BAR_WIDTH}" y1="{top}" y2="{top + 4 * SPACE}" stroke="#333"/>')
        if bar % BARS_PER_LINE == 0:
            out.append(f'<line x1="{x}" x2="{x}" y1="{top}" y2="{top + 4 * SPACE}" stroke="#333"/>')
            out.append(f'<text x="{x - 6}" y="{top - 6}" font-size="10" text-anchor="end" fill="#777">{bar + 1}</text>')
        if written.time_signature != previous_meter:  # the meter where it starts or changes
            num, den = written.time_signature
            mx = x - 22 if bar % BARS_PER_LINE == 0 else x + 7
            out.append(f'<text x="{mx}" y="{top + 15}" font-size="15" font-weight="bold" text-anchor="middle">'
                       f'{num}</text><text x="{mx}" y="{top + 31}" font-size="15" font-weight="bold" '
                       f'text-anchor="middle">{den}</text>')
            previous_meter = written.time_signature
    # Melodies that sit low (tenor sax, trombone) are written an octave up under a treble-8vb
    # clef, as tenor parts are, instead of hanging on ledger lines below the staff.
    pitches = sorted(n.pitch for n in score.notes)
    octave = 12 if pitches and pitches[len(pitches) // 2] < 64 else 0
    if octave:
        out.append(f'<text x="{LEFT - 22}" y="{STAFF_TOP + 4 * SPACE + 14}" font-size="10" text-anchor="middle" '
                   f'fill="#555">8vb</text>')
    end = chart.total_beats
    for span in score.chords:
        if span.start_beat < end - 1e-9:
            x, y = _place(span.start_beat, boxes)
            out.append(f'<text class="chord" x="{x - 3:.1f}" y="{y + STAFF_TOP - 14}" font-size="13" '
                       f'font-weight="bold">{escape(spell(span.chord))}</text>')
    for note, role_name in zip(score.notes, roles(score.notes, score.chords), strict=True):
        if note.start_beat < end - 1e-9:
            out += _note(note, role_name, boxes, octave)
    out += _rests(score.notes, boxes)
    out.append("</svg>")
    return "\n".join(out), {"bars": boxes, "pad": PAD, "staff_top": STAFF_TOP, "staff_height": 4 * SPACE}


def _place(beat: float, boxes: list[dict]) -> tuple[float, float]:
    """(x, line top) of a beat: proportional within its bar."""
    i = max(0, bisect_right(_Starts(boxes), beat + 1e-9) - 1)
    box = boxes[i]
    return box["x"] + PAD + (beat - box["start"]) / box["beats"] * (BAR_WIDTH - 2 * PAD), box["y"]


def _rests(notes, boxes: list[dict]) -> list[str]:
    """A whole rest in each silent bar, and a quarter rest on each silent beat of the others."""
    sounding: list[list[tuple[float, float]]] = [[] for _ in boxes]  # per bar: (start, end) in beats
    for n in notes:
        first = max(0, bisect_right(_Starts(boxes), n.start_beat + 1e-9) - 1)
        for i in range(first, len(boxes)):
            a, b = boxes[i]["start"], boxes[i]["start"] + boxes[i]["beats"]
            if a >= n.end_beat - 1e-9:
                break
            sounding[i].append((max(n.start_beat, a), min(n.end_beat, b)))
    out = []
    for box, spans in zip(boxes, sounding, strict=True):
        top = box["y"] + STAFF_TOP
        if not spans:
            cx = box["x"] + BAR_WIDTH / 2
            out.append(f'<rect class="rest" x="{cx - 6:.1f}" y="{top + SPACE}" width="12" height="{SPACE / 2}" '
                       f'fill="#444"/>')
            continue
        beat = box["start"]
        while beat + 1 <= box["start"] + box["beats"] + 1e-9:
            if not any(s < beat + 1 - 1e-9 and e > beat + 1e-9 for s, e in spans):
                x, _ = _place(beat + 0.35, boxes)
                y = top + 2 * SPACE
                out.append(f'<path class="rest" d="M{x - 2:.1f},{y - 11} l4,5 l-4,5 l4,5 q-6,-2 -3,6" fill="none" '
                           f'stroke="#444" stroke-width="1.6"/>')
            beat += 1
    return out


class _Starts:
    """The bars' start beats, as a sequence `bisect` can search without copying them out."""

    def __init__(self, boxes: list[dict]):
        self.boxes = boxes

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, i: int) -> float:
        return self.boxes[i]["start"]


def _note(note, role_name: str, boxes: list[dict], octave: int = 0) -> list[str]:
    """SVG elements of one note (written `octave` semitones up): ledger lines, sharp, head, stem, flags."""
    x, y = _place(note.start_beat, boxes)
    bottom = y + STAFF_TOP + 4 * SPACE
    step, sharp = _step(note.pitch + octave)
    cy = bottom - (step - _E4_STEP) * SPACE / 2
    colour = ROLE_COLOURS[role_name]
    parts = []
    for ledger in list(range(_E4_STEP - 2, step - 1, -2)) + list(range(_E4_STEP + 10, step + 1, 2)):
        ly = bottom - (ledger - _E4_STEP) * SPACE / 2
        parts.append(f'<line x1="{x - 8:.1f}" x2="{x + 8:.1f}" y1="{ly}" y2="{ly}" stroke="#555"/>')
    if sharp:
        parts.append(f'<text x="{x - 15:.1f}" y="{cy + 4:.1f}" font-size="12" fill="{colour}">♯</text>')
    d = note.duration_beats
    fill = "white" if d >= 2 - 1e-9 else colour
    parts.append(f'<ellipse class="note role-{role_name}" data-beat="{note.start_beat:g}" data-pitch="{note.pitch}" '
                 f'cx="{x:.1f}" cy="{cy:.1f}" rx="5" ry="3.6" transform="rotate(-20 {x:.1f} {cy:.1f})" '
                 f'fill="{fill}" stroke="{colour}" stroke-width="1.6"/>')
    if d < 4 - 1e-9:
        up = step < _E4_STEP + 4  # below the middle line: stem up, on the right
        sx = x + 4.6 if up else x - 4.6
        ey = cy - 26 if up else cy + 26
        parts.append(f'<line x1="{sx:.1f}" x2="{sx:.1f}" y1="{cy:.1f}" y2="{ey:.1f}" stroke="{colour}" '
                     f'stroke-width="1.2"/>')
        flags = 2 if d < 0.5 - 1e-9 else 1 if d < 1 - 1e-9 else 0
        for k in range(flags):
            fy = ey + (k * 6 if up else -k * 6)
            parts.append(f'<path d="M{sx:.1f},{fy:.1f} q 7,{6 if up else -6} 6,{14 if up else -14}" fill="none" '
                         f'stroke="{colour}" stroke-width="1.4"/>')
    return parts
