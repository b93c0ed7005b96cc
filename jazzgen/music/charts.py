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
from dataclasses import dataclass, field, replace

from jazzgen.errors import ChordParseError, UsageError
from jazzgen.music.chords import Chord, parse_chord
from jazzgen.music.score import ChordSpan
from jazzgen.music.spelling import KEY, ROOT_NAMES, key_semitones, pitch_class, spell, transpose_chord

# spell, key_semitones and transpose_chord are part of this module's interface too.
__all__ = ["STYLES", "HEADERS", "MAX_CHART_BYTES", "Chart", "ChartBar", "ChartError", "key_semitones",
           "meter_text", "parse_chart", "parse_meter", "read_chart_file", "spell", "transpose_chord"]

STYLES = ("swing", "ballad", "bossa", "waltz")
HEADERS = ("title", "key", "tempo", "style", "time")
_TOKEN = re.compile(r"\n|\|\|:|:\|\||\|:|:\||\|\||\||[^\s|:]+|:")
_METER = re.compile(r"(\d{1,2})/(\d{1,2})$")
_ENDING = re.compile(r"(?:\[(\d)\]?|(\d)\.)$")
_TIMES = re.compile(r"[xX](\d{1,3})$")


class ChartError(UsageError):
    """A chart that cannot be read; the message names the written bar (1-based) when there is one.

    Attributes:
        bar: the bar number as written (None for header errors), symbol: the offending text.
    """

    def __init__(self, message: str, bar: int | None = None, symbol: str = "", source: str = ""):
        self.bar, self.symbol, self.source = bar, symbol, source
        where = (f"{source}: " if source else "") + (f"bar {bar}: " if bar is not None else "")
        super().__init__(where + message)


@dataclass(frozen=True)
class ChartBar:
    """One bar as played: its chords with their lengths in quarter notes, and its meter.

    Attributes:
        chords: (chord, beats) pairs in order; the beats add up to the bar's length.
        time_signature: (numerator, denominator) of this bar.
        number: the written bar this one was played from (repeats expanded), for messages.
    """

    chords: tuple[tuple[Chord, float], ...]
    time_signature: tuple[int, int] = (4, 4)
    number: int = field(default=0, compare=False)

    @property
    def beats(self) -> float:
        """Length in quarter notes (6/8 -> 3)."""
        return self.time_signature[0] * 4.0 / self.time_signature[1]


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


@dataclass
class _Written:
    """One bar as written, before repeats are played out."""

    number: int
    chords: list = field(default_factory=list)  # (Chord, beats)
    time_signature: tuple[int, int] = (4, 4)
    repeat_start: bool = False
    repeat_end: int = 0  # passes when a :| closes after this bar (0: none)
    ending: int = 0
    times: int = 1


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
    meter = _meter(header["time"], None, source) if "time" in header else meter
    written = _read_bars(body, meter, source)
    if not written:
        raise ChartError("empty chord chart: give changes like 'Dm7 G7 | Cmaj7'", source=source)
    bars = _play_out(written, source)
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
MAX_PLAYED_BARS = 10_000  # repeats inside repeats could ask for millions


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
        return _meter(text, None, "")
    except ChartError as err:
        raise UsageError(f"--time {text!r}: want N/D such as 4/4, 3/4, 6/8") from err


def _meter(text: str, bar: int | None, source: str) -> tuple[int, int]:
    m = _METER.match(text.strip())
    if not m or not 1 <= int(m.group(1)) <= 32 or m.group(2) not in ("1", "2", "4", "8", "16"):
        raise ChartError(f"time signature {text!r}: want N/D such as 4/4, 3/4, 6/8", bar, text, source)
    return int(m.group(1)), int(m.group(2))


def _read_bars(body: str, meter: tuple[int, int], source: str) -> list[_Written]:
    """Tokens -> written bars with their repeat signs, endings and xN."""
    tokens = _TOKEN.findall(body)
    ruled = any(t not in ("\n",) and t[0] in "|:" for t in tokens)
    bars: list[_Written] = []
    pending = _Written(1, time_signature=meter)
    words: list[str] = []
    last_rule = "soft"  # the bar line before `words`: "|" or "soft" (start, newline, repeat signs)

    def close(rule: str) -> None:
        nonlocal pending, words, last_rule
        if words:
            _fill(pending, words, bars, source)
            if pending.chords:
                bars.append(pending)
                pending = _Written(pending.number + 1, time_signature=pending.time_signature)
        elif rule == "|" and last_rule == "|" and not pending.repeat_start:
            raise ChartError("no chord in this bar", pending.number, source=source)
        words, last_rule = [], rule

    for token in tokens:
        if token == "\n":
            close("soft")
        elif token in ("|:", "||:"):
            close("soft")
            if any(b.repeat_start for b in _open_section(bars)):
                raise ChartError("a repeat starts inside a repeat", pending.number, token, source)
            pending.repeat_start = True
        elif token in (":|", ":||"):
            close("soft")
            if not bars:
                raise ChartError("a repeat sign with no bar before it", pending.number, token, source)
            bars[-1].repeat_end = 2
        elif token in ("|", "||"):
            close("|" if token == "|" else "soft")
        elif token == ":":
            raise ChartError("a stray ':' (repeats are written |: and :|)", pending.number, token, source)
        elif _TIMES.match(token) and not words and bars and (bars[-1].repeat_end or not ruled):
            times = int(_TIMES.match(token).group(1))
            if times < 1:
                raise ChartError("x0: a bar is played at least once", bars[-1].number, token, source)
            if bars[-1].repeat_end:  # ':| x3': three passes of the section
                bars[-1].repeat_end = times
            else:  # 'Cm7 x4' in a chart without bar lines
                bars[-1].times = times
        else:
            words.append(token)
            if not ruled:  # no bar lines at all: every chord (or %) is one bar
                if not (_METER.match(token) or _ENDING.match(token) or _TIMES.match(token)):
                    close("soft")
    close("soft")
    return bars


def _open_section(bars: list[_Written]) -> list[_Written]:
    """The bars since the last repeat sign closed (a new |: may not start inside them)."""
    for i in range(len(bars) - 1, -1, -1):
        if bars[i].repeat_end:
            return bars[i + 1:]
    return bars


def _fill(bar: _Written, words: list[str], bars: list[_Written], source: str) -> None:
    """Read one bar's words (meter, ending, chords, dots, %, xN) into `bar`."""
    n = bar.number
    while words and (_METER.match(words[0]) or _ENDING.match(words[0])):
        word = words.pop(0)
        if _METER.match(word):
            bar.time_signature = _meter(word, n, source)
        else:
            m = _ENDING.match(word)
            bar.ending = int(m.group(1) or m.group(2))
    if words and _TIMES.match(words[-1]):
        bar.times = int(_TIMES.match(words.pop()).group(1))
        if bar.times < 1:
            raise ChartError("x0: a bar is played at least once", n, "x0", source)
    if not words:
        return  # a meter or ending alone: it applies to the next bar
    slot = 4.0 / bar.time_signature[1]  # quarter notes per written beat (6/8: an eighth)
    length = bar.time_signature[0] * slot
    if words == ["%"]:
        if not bars:
            raise ChartError("'%' repeats the bar before, but there is none", n, "%", source)
        before = bars[-1]
        if abs(sum(b for _, b in before.chords) - length) > 1e-9:
            raise ChartError(f"'%' repeats a bar of another length than {meter_text(bar.time_signature)}",
                             n, "%", source)
        bar.chords = list(before.chords)
        return
    chords: list[list] = []
    dotted = any(w in (".", "/") for w in words)
    for word in words:
        if word in (".", "/"):
            if not chords:
                raise ChartError(f"{word!r} holds the chord before it, but the bar starts with it", n, word, source)
            chords[-1][1] += slot
            continue
        if word == "%" or _TIMES.match(word) or _METER.match(word) or _ENDING.match(word):
            raise ChartError(f"{word!r} must come {'alone' if word == '%' else 'first or last'} in a bar",
                             n, word, source)
        try:
            chords.append([parse_chord(word), slot])
        except ChordParseError as err:
            raise ChartError(str(err), n, word, source) from None
    if dotted:
        total = sum(b for _, b in chords)
        if abs(total - length) > 1e-9:
            raise ChartError(f"{round(total / slot)} beats in a {meter_text(bar.time_signature)} bar "
                             f"(want {bar.time_signature[0]})", n, " ".join(words), source)
    else:
        for pair in chords:
            pair[1] = length / len(chords)
    bar.chords = [(c, b) for c, b in chords]


def meter_text(ts: tuple[int, int]) -> str:
    """(6, 8) -> '6/8'."""
    return f"{ts[0]}/{ts[1]}"


def _play_out(written: list[_Written], source: str) -> list[ChartBar]:
    """Expand repeats (with their endings) and xN into the bars as played."""
    played: list[_Written] = []
    i = 0
    while i < len(written):
        j = next((k for k in range(i, len(written)) if written[k].repeat_end), len(written))
        start = max([k for k in range(i, min(j + 1, len(written))) if written[k].repeat_start] or [i])
        if j == len(written):
            start = j  # no repeat sign closes: the rest is played once
        for k in range(i, start):
            bar = written[k]
            if bar.ending and not (k > 0 and written[k - 1].repeat_end):
                raise ChartError(f"ending {bar.ending}. outside a repeat", bar.number, f"{bar.ending}.", source)
            played.append(bar)
        if j == len(written):
            break
        section = written[start:j + 1]
        first_ending = next((k for k, b in enumerate(section) if b.ending), len(section))
        body, segments = section[:first_ending], {}
        current = 0
        for b in section[first_ending:]:
            current = b.ending or current
            segments.setdefault(current, []).append(b)
        passes = written[j].repeat_end
        for p in range(1, passes + 1):
            played += body
            # Pass p takes ending p (the last inner one when there are fewer); the last pass
            # skips them all and goes on to the bars after the repeat (the final ending).
            if p < passes and segments:
                played += segments.get(p, segments[max(segments)])
            if len(played) > MAX_PLAYED_BARS:
                raise ChartError(f"the repeats play more than {MAX_PLAYED_BARS} bars", source=source)
        i = j + 1
    if sum(b.times for b in played) > MAX_PLAYED_BARS:
        raise ChartError(f"the repeats play more than {MAX_PLAYED_BARS} bars", source=source)
    return [ChartBar(tuple(b.chords), b.time_signature, b.number) for b in played for _ in range(b.times)]
