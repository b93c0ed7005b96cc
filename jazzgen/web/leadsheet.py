"""The lead sheet the page shows: a small SVG engraver, and MusicXML for download.

The SVG is drawn here rather than by a notation program so the page needs nothing installed:
a treble staff, four bars to a line, chord symbols above, note heads at their written pitch
(sharps spelling), stems and flags by duration, ledger lines, each head coloured by the note's
role. Notes sit at positions proportional to their beat in the bar, so the page's playhead
moves across a bar at the same rate as the music; `layout` tells it where each bar is.
"""

from __future__ import annotations

from pathlib import Path
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


def engrave(score: Score, bars: int) -> tuple[str, dict]:
    """The score as an SVG lead sheet, and the layout the page's playhead follows.

    Returns:
        (svg text, layout) where layout holds `bars` (x, y, width, height of each bar),
        `pad` (px before beat 0 of a bar) and `beats_per_bar`.
    """
    from jazzgen.music.chords import chord_symbol_text
    from jazzgen.web.studio import roles

    bpb = score.beats_per_bar
    lines = max(1, -(-bars // BARS_PER_LINE))
    width, height = LEFT + BARS_PER_LINE * BAR_WIDTH + 8, lines * LINE_HEIGHT + 8
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="leadsheet" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" font-family="sans-serif">']
    boxes = []
    for bar in range(bars):
        x, y = bar_box(bar)
        top = y + STAFF_TOP
        boxes.append({"x": x, "y": y, "width": BAR_WIDTH, "height": LINE_HEIGHT})
        for k in range(5):
            out.append(f'<line x1="{x}" x2="{x + BAR_WIDTH}" y1="{top + k * SPACE}" y2="{top + k * SPACE}" '
                       f'stroke="#555" stroke-width="1"/>')
        out.append(f'<line x1="{x + BAR_WIDTH}" x2="{x + BAR_WIDTH}" y1="{top}" y2="{top + 4 * SPACE}" stroke="#333"/>')
        if bar % BARS_PER_LINE == 0:
            out.append(f'<line x1="{x}" x2="{x}" y1="{top}" y2="{top + 4 * SPACE}" stroke="#333"/>')
            out.append(f'<text x="{x - 6}" y="{top - 6}" font-size="10" text-anchor="end" fill="#777">{bar + 1}</text>')
    # Melodies that sit low (tenor sax, trombone) are written an octave up under a treble-8vb
    # clef, as tenor parts are, instead of hanging on ledger lines below the staff.
    pitches = sorted(n.pitch for n in score.notes)
    octave = 12 if pitches and pitches[len(pitches) // 2] < 64 else 0
    if octave:
        out.append(f'<text x="{LEFT - 22}" y="{STAFF_TOP + 4 * SPACE + 14}" font-size="10" text-anchor="middle" '
                   f'fill="#555">8vb</text>')
    num, den = score.time_signature
    out.append(f'<text x="{LEFT - 22}" y="{STAFF_TOP + 15}" font-size="15" font-weight="bold" text-anchor="middle">'
               f'{num}</text><text x="{LEFT - 22}" y="{STAFF_TOP + 31}" font-size="15" font-weight="bold" '
               f'text-anchor="middle">{den}</text>')
    end = bars * bpb
    for span in score.chords:
        if span.start_beat >= end - 1e-9:
            continue
        x, y = _place(span.start_beat, bpb)
        text = escape(chord_symbol_text(span.chord))
        out.append(f'<text class="chord" x="{x - 3:.1f}" y="{y + STAFF_TOP - 14}" font-size="13" '
                   f'font-weight="bold">{text}</text>')
    for note, role_name in zip(score.notes, roles(score.notes, score.chords), strict=True):
        if note.start_beat < end - 1e-9:
            out += _note(note, role_name, bpb, octave)
    out.append("</svg>")
    return "\n".join(out), {"bars": boxes, "pad": PAD, "beats_per_bar": bpb, "staff_top": STAFF_TOP,
                            "staff_height": 4 * SPACE}


def _place(beat: float, bpb: float) -> tuple[float, float]:
    """(x, line top) of a beat: proportional within its bar."""
    bar = int(beat // bpb + 1e-9)
    x, y = bar_box(bar)
    return x + PAD + (beat - bar * bpb) / bpb * (BAR_WIDTH - 2 * PAD), y


def _note(note, role_name: str, bpb: float, octave: int = 0) -> list[str]:
    """SVG elements of one note (written `octave` semitones up): ledger lines, sharp, head, stem, flags."""
    x, y = _place(note.start_beat, bpb)
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


def write_musicxml(score: Score, path: str | Path) -> Path:
    """Write the solo and its chord symbols as a MusicXML lead sheet (via music21)."""
    from music21 import harmony, meter, note, stream, tempo

    from jazzgen.core.files import atomic_path
    from jazzgen.music.chords import chord_symbol_text

    part = stream.Part()
    part.insert(0, meter.TimeSignature("{}/{}".format(*score.time_signature)))
    part.insert(0, tempo.MetronomeMark(number=round(score.tempo_qpm)))
    for n in score.notes:
        part.insert(n.start_beat, note.Note(n.pitch, quarterLength=n.duration_beats))
    for span in score.chords:
        if span.chord.root is None:
            continue
        text = chord_symbol_text(span.chord)
        # music21 writes flats as '-' ("B-7"); only the root's and the bass's accidentals move.
        root, _, bass = text.partition("/")
        figure = (root[0] + "-" + root[2:] if root[1:2] == "b" else root) + (
            "/" + bass.replace("b", "-") if bass else "")
        try:
            part.insert(span.start_beat, harmony.ChordSymbol(figure))
        except Exception:  # noqa: BLE001 - a symbol music21 cannot read is left off the sheet
            continue
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    xml = GeneralObjectExporter(stream.Score([part.makeNotation()])).parse()  # bytes
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(xml)
    return path
