"""Charts back to text, and chord spans cut into bars: the inverse of `parse_chart`.

`chart_text(chart)` writes bars that `parse_chart` reads back to the same bars (repeats played
out, '%' for a repeated bar, '.' for uneven bars, a meter where it changes); `chart_from_spans`
cuts chord spans (from a corpus piece, a score) into the bars of one meter.
"""

from __future__ import annotations

from jazzgen.music.charts import Chart, ChartBar, meter_text
from jazzgen.music.chords import Chord, parse_chord
from jazzgen.music.score import ChordSpan
from jazzgen.music.spelling import spell


def chart_text(chart: Chart, bars_per_line: int = 4, spelled: bool = False) -> str:
    """A chart as text that `parse_chart` reads back to the same bars (repeats written out).

    The header is written for the fields that are set; a bar equal to the one before is '%';
    a meter change is written at the bar it starts; uneven bars are written with '.' per beat.
    With `spelled`, chords are written in lead-sheet spelling (the same tones, other symbols).
    """
    lines = [f"{name}: {value}" for name, value in (("title", chart.title), ("key", chart.key),
                                                   ("tempo", _number(chart.tempo_qpm)), ("style", chart.style))
             if value]
    cells, before = [], None
    meter = (3, 4) if chart.style == "waltz" else (4, 4)  # what parse_chart assumes
    for bar in chart.bars:
        cell = "" if bar.time_signature == meter else meter_text(bar.time_signature) + " "
        meter = bar.time_signature
        cell += "%" if before is not None and bar == before else _bar_words(bar, spelled)
        before = bar
        cells.append(cell)
    for k in range(0, len(cells), bars_per_line):
        lines.append("| " + " | ".join(cells[k:k + bars_per_line]) + " |")
    return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _bar_words(bar: ChartBar, spelled: bool = False) -> str:
    def name(chord: Chord) -> str:
        return spell(chord) if spelled else chord.symbol

    beats = [b for _, b in bar.chords]
    if all(abs(b - beats[0]) < 1e-9 for b in beats):
        return " ".join(name(c) for c, _ in bar.chords)
    slot = 4.0 / bar.time_signature[1]
    words = []
    for chord, b in bar.chords:
        holds = round(b / slot) - 1
        if holds < 0 or abs((holds + 1) * slot - b) > 1e-9:
            raise ValueError(f"a chord of {b} beats is not a whole number of {meter_text(bar.time_signature)} beats")
        words += [name(chord)] + ["."] * holds
    return " ".join(words)


def chart_from_spans(spans: list[ChordSpan], time_signature: tuple[int, int] = (4, 4), **header) -> Chart:
    """Chord spans (from beat 0) cut into bars of one meter; a chord over a bar line is split.

    Gaps between spans become N.C.; the last bar is filled with the last chord (or N.C.); a
    change between beats moves to the nearest beat (a chart counts beats), unless the bar's
    chords split it evenly.
    Keyword arguments (title, key, tempo_qpm, style) go into the Chart.
    """
    length = time_signature[0] * 4.0 / time_signature[1]
    end = max((s.end_beat for s in spans), default=0.0)
    n_bars = max(1, -int(-round(end / length, 6) // 1))
    no_chord = parse_chord("N.C.")
    bars = []
    for k in range(n_bars):
        lo, hi = k * length, (k + 1) * length
        pieces: list[tuple[Chord, float]] = []
        cursor = lo
        for s in spans:
            a, b = max(s.start_beat, lo), min(s.end_beat, hi)
            if b <= a + 1e-9:
                continue
            if a > cursor + 1e-9:
                pieces.append((no_chord, a - cursor))
            pieces.append((s.chord, b - a))
            cursor = b
        if cursor < hi - 1e-9:
            last = pieces[-1][0] if pieces else no_chord
            pieces.append((last, hi - cursor))
        # Equal neighbours merge when the bar stays writable; else the pieces stay apart, and
        # pieces no chart can write (a change off the beat) move to the nearest beat.
        slot = 4.0 / time_signature[1]
        for option in (_merged(pieces), pieces, _merged(_on_beats(pieces, slot))):
            if _writable(option, slot):
                merged = option
                break
        bars.append(ChartBar(tuple(merged), time_signature, k + 1))
    return Chart(tuple(bars), form_bars=len(bars), **header)


def _merged(pieces: list[tuple[Chord, float]]) -> list[tuple[Chord, float]]:
    """Neighbouring pieces of the same chord as one."""
    out: list[tuple[Chord, float]] = []
    for chord, b in pieces:
        if out and out[-1][0] == chord:
            out[-1] = (chord, out[-1][1] + b)
        else:
            out.append((chord, b))
    return out


def _on_beats(pieces: list[tuple[Chord, float]], slot: float) -> list[tuple[Chord, float]]:
    """The pieces with every change moved to the nearest beat (pieces left empty are dropped)."""
    out, edge, at = [], 0.0, 0
    for chord, b in pieces:
        edge += b
        nxt = round(edge / slot)
        if nxt > at:
            out.append((chord, (nxt - at) * slot))
            at = nxt
    return out


def _writable(pieces: list[tuple[Chord, float]], slot: float) -> bool:
    """Whether chart text can say these lengths: all equal, or each a whole number of beats."""
    lengths = [b for _, b in pieces]
    return bool(lengths) and (all(abs(b - lengths[0]) < 1e-9 for b in lengths) or
                              all(abs(b / slot - round(b / slot)) < 1e-9 for b in lengths))
