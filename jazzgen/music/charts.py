"""Chord charts: the text musicians type, with form and meter, read into bars and chord spans.

A chart is bars separated by ``|`` (docs/charts.md has the whole format)::

    title: Autumn Leaves
    key: G minor
    tempo: 140
    style: swing
    |: Cm7 | F7 | Bbmaj7 | Ebmaj7 |
    | Am7b5 | D7 |1. Gm7 | % :|2. Gm7 | G7 ||
    3/4 | C7 . F7 | N.C. x2 |

- ``|: ... :|`` repeats (``:| x3`` plays the section three times), ``1.``/``2.`` endings;
- ``%`` repeats the previous bar; ``Cm7 x4`` inside a bar plays that bar four times;
- ``.`` (or ``/``) holds the chord one more beat, so ``C7 . . F7`` is three beats then one;
  without them the chords of a bar split it evenly;
- ``3/4``, ``6/8``, ``5/4`` at the start of a bar change the meter from there on;
- every spelling `parse_chord` reads (WJD ``F-7``, ``Ebj7``, ``D79b`` and lead-sheet ``Fm7`` ...).

Errors name the written bar and the symbol: ``bar 7: unknown chord symbol 'H7'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from jazzgen.errors import UsageError
from jazzgen.music.chart_bars import (
    MAX_PLAYED_BARS,
    ChartBar,
    ChartError,
    meter_text,
    play_out,
    read_bars,
    read_meter,
)
from jazzgen.music.score import ChordSpan
from jazzgen.music.spelling import KEY, ROOT_NAMES, key_semitones, pitch_class, spell, transpose_chord

# spell, key_semitones and transpose_chord are part of this module's interface too, and so are
# ChartBar, ChartError, meter_text and MAX_PLAYED_BARS (the bar grammar in chart_bars).
__all__ = ["STYLES", "HEADERS", "MAX_CHART_BYTES", "MAX_PLAYED_BARS", "Chart", "ChartBar", "ChartError",
           "key_semitones", "meter_text", "parse_chart", "parse_meter", "read_chart_file", "spell", "transpose_chord"]

STYLES = ("swing", "ballad", "bossa", "waltz")
HEADERS = ("title", "key", "tempo", "style", "time")


@dataclass(frozen=True)
class Chart:
    """A tune's changes, bar by bar as played, with the header's title, key, tempo and style."""

    bars: tuple[ChartBar, ...]
    title: str = ""
    key: str = ""
    tempo_qpm: float | None = None
    style: str = ""
    form_bars: int = 0  # bars in one chorus (0 = all of them); choruses start every form_bars

    @property
    def time_signature(self) -> tuple[int, int]:
        return self.bars[0].time_signature if self.bars else (4, 4)

    @property
    def total_beats(self) -> float:
        return sum(bar.beats for bar in self.bars)

    def bar_starts(self) -> list[float]:
        """The beat each bar starts on."""
        starts, beat = [], 0.0
        for bar in self.bars:
            starts.append(beat)
            beat += bar.beats
        return starts

    def meter_changes(self) -> list[tuple[float, tuple[int, int]]]:
        """(beat, time signature) at the start and wherever the meter changes."""
        changes: list[tuple[float, tuple[int, int]]] = []
        for start, bar in zip(self.bar_starts(), self.bars):
            if not changes or changes[-1][1] != bar.time_signature:
                changes.append((start, bar.time_signature))
        return changes

    def chorus_starts(self) -> list[int]:
        """Indices of the bars where a chorus (one pass of the form) starts."""
        form = self.form_bars or len(self.bars)
        return list(range(0, len(self.bars), max(form, 1)))

    def spans(self) -> list[ChordSpan]:
        """Contiguous chord spans from beat 0, one per chord per bar."""
        spans, beat = [], 0.0
        for bar in self.bars:
            for chord, beats in bar.chords:
                spans.append(ChordSpan(chord, beat, beats))
                beat += beats
        return spans

    def looped(self, bars: int) -> Chart:
        """The form repeated (and cut) to exactly `bars` bars; form_bars keeps one chorus."""
        if not self.bars or bars <= 0:
            raise UsageError(f"cannot make {bars} bars from a chart of {len(self.bars)}")
        form = self.form_bars or len(self.bars)
        played = [self.bars[i % len(self.bars)] for i in range(bars)]
        return replace(self, bars=tuple(played), form_bars=min(form, len(self.bars)))

    def transposed(self, semitones: int) -> Chart:
        """Every chord moved by `semitones` (names respelled), and the key with them."""
        if semitones % 12 == 0:
            return self
        bars = tuple(replace(bar, chords=tuple((transpose_chord(c, semitones), b) for c, b in bar.chords))
                     for bar in self.bars)
        key = self.key
        m = KEY.match(key.strip()) if key else None
        if m:
            key = ROOT_NAMES[(pitch_class(m.group(1)) + semitones) % 12] + key.strip()[len(m.group(1)):]
        return replace(self, bars=bars, key=key)


# -- reading ---------------------------------------------------------------------------------


def parse_chart(text: str, *, time_signature: tuple[int, int] | None = None, source: str = "") -> Chart:
    """Read chart text (header lines, then bars) into a Chart with its repeats played out.

    Args:
        text: the chart; without any '|' every chord is one bar ("Dm7 G7 Cmaj7").
        time_signature: the meter until the chart names one (a ``time:`` header or ``3/4``);
            None: 4/4, or 3/4 for a chart whose header says ``style: waltz``.
        source: a file name to put before every error message.

    Raises:
        ChartError: naming the bar and the symbol (unknown chord, beats that do not fill the
            bar, a ``%`` with no bar before it, an empty bar, a bad header ...).
    """
    header, body = _split_header(text, source)
    waltz = header.get("style", "").lower() == "waltz"
    meter = time_signature or ((3, 4) if waltz else (4, 4))
    meter = read_meter(header["time"], None, source) if "time" in header else meter
    written = read_bars(body, meter, source)
    if not written:
        raise ChartError("empty chord chart: give changes like 'Dm7 G7 | Cmaj7'", source=source)
    bars = play_out(written, source)
    tempo = None
    if "tempo" in header:
        try:
            tempo = float(header["tempo"])
        except ValueError:
            tempo = -1.0
        if not 20 <= tempo <= 400:
            raise ChartError(f"tempo {header['tempo']!r}: want beats per minute, 20 to 400", source=source)
    style = header.get("style", "").lower()
    if style and style not in STYLES:
        raise ChartError(f"style {style!r}: want one of {', '.join(STYLES)}", source=source)
    key = header.get("key", "")
    if key and not KEY.match(key):
        raise ChartError(f"key {key!r}: want a note name such as Bb, F# or Cm", source=source)
    return Chart(tuple(bars), header.get("title", ""), key, tempo, style, len(bars))


def _split_header(text: str, source: str) -> tuple[dict, str]:
    """Header lines (``name: value``) at the top, comments (`` # ...``) dropped; the rest is the body.

    Typed on one line (``--chords "title: Blues | C7 | F7"``), a header's value ends at the first
    '|', and a typed backslash-n (``\\n``) ends a line, as a shell passes it.
    """
    text = text.replace("\r", "\n").replace("\\n", "\n")  # no chord symbol holds a backslash
    # A comment starts with '#' at the start of a line or after a space (F#7 is a chord).
    lines = [re.sub(r"(^|\s)#.*$", "", line).rstrip() for line in text.split("\n")]
    header: dict[str, str] = {}
    body: list[str] = []
    for i, line in enumerate(lines):
        m = re.match(r"\s*([A-Za-z]+)\s*:(?![|])\s*([^|]*)(.*)$", line)
        if not line.strip():
            continue
        if not m:
            body = lines[i:]
            break
        name = m.group(1).lower()
        if name not in HEADERS:
            raise ChartError(f"line {i + 1}: unknown header {name!r} (known: {', '.join(HEADERS)})",
                             source=source)
        header[name] = m.group(2).strip()
        if m.group(3):  # bars after the header on the same line
            body = [m.group(3)] + lines[i + 1:]
            break
    return header, "\n".join(body)


MAX_CHART_BYTES = 1_000_000  # a chart is a page of text; anything larger is not one
def read_chart_file(path, time_signature: tuple[int, int] | None = None) -> Chart:
    """`parse_chart` of a text file; every error message starts with the file's name.

    Raises:
        ChartError: a missing, oversized or non-UTF-8 file, or any error of `parse_chart`.
    """
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ChartError("no such chart file", source=str(path))
    size = path.stat().st_size
    if size > MAX_CHART_BYTES:
        raise ChartError(f"too long for a chart ({size} bytes > {MAX_CHART_BYTES})", source=str(path))
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ChartError("not a text file (want UTF-8 chart text)", source=str(path)) from None
    return parse_chart(text, time_signature=time_signature, source=str(path))


def parse_meter(text: str) -> tuple[int, int]:
    """'3/4' -> (3, 4); UsageError naming --time otherwise."""
    try:
        return read_meter(text, None, "")
    except ChartError as err:
        raise UsageError(f"--time {text!r}: want N/D such as 4/4, 3/4, 6/8") from err


