"""The bar grammar of a chord chart: bar lines, repeats and endings, ``%``, ``.`` holds and
``xN``, from written bars to the bars as played (`charts.parse_chart` reads the header and
calls these; docs/charts.md has the whole format).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from jazzgen.errors import ChordParseError, UsageError
from jazzgen.music.chords import Chord, parse_chord

MAX_PLAYED_BARS = 10_000  # repeats inside repeats could ask for millions

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


def read_meter(text: str, bar: int | None, source: str) -> tuple[int, int]:
    """'6/8' -> (6, 8); a ChartError naming the written `bar` and `source` otherwise."""
    m = _METER.match(text.strip())
    if not m or not 1 <= int(m.group(1)) <= 32 or m.group(2) not in ("1", "2", "4", "8", "16"):
        raise ChartError(f"time signature {text!r}: want N/D such as 4/4, 3/4, 6/8", bar, text, source)
    return int(m.group(1)), int(m.group(2))


def read_bars(body: str, meter: tuple[int, int], source: str) -> list[_Written]:
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
            bar.time_signature = read_meter(word, n, source)
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


def play_out(written: list[_Written], source: str) -> list[ChartBar]:
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
