"""Every request body the studio accepts, checked field by field before any work is done.

A bad request gets one `FieldError` naming the field and the reason; the app answers it as
JSON with status 400. Nothing here touches files: model names are looked up in a fixed list
and file names are made by the server, never taken from a request.
"""

from __future__ import annotations

from dataclasses import dataclass

from jazzgen.music.band import BANDS
from jazzgen.music.charts import STYLES
from jazzgen.music.instruments import INSTRUMENTS
from jazzgen.web.studio import KEYS, METERS

MAX_BARS = 512
MAX_CHART_CHARS = 4000
MAX_PHRASE_NOTES = 512
TEMPERATURE_RANGE = (0.05, 3.0)
TEMPO_RANGE = (40.0, 320.0)
TOP_K_RANGE = (0, 1000)
SEED_RANGE = (0, 2**31 - 1)
TRADE_BARS = (2, 4, 8)
MAX_TRADE_ROUNDS = 32


class FieldError(ValueError):
    """A request field that cannot be used: `field` names it, the message says why."""

    def __init__(self, field: str, message: str, extra: dict | None = None):
        self.field = field
        self.extra = extra or {}
        super().__init__(message)


@dataclass(frozen=True)
class Performance:
    """What to play over: the chart and how (shared by generate and trade requests)."""

    chart: str
    bars: int | None  # None: the chart's own length
    tempo: float | None  # None: the chart's, else the style's
    meter: str  # until the chart names one
    key: str | None  # None: as written
    instrument: str
    style: str | None  # None: the chart's, else swing
    band: str
    model: str
    seed: int
    temperature: float
    top_k: int


def _number(body: dict, name: str, default, low, high, integer: bool):
    value = body.get(name, default)
    kind = int if integer else (int, float)
    # bool is an int in Python; a checkbox's true is not a tempo.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise FieldError(name, f"{name} must be {'a whole number' if integer else 'a number'} (got {value!r})")
    if value != value or not low <= value <= high:  # NaN fails every comparison
        raise FieldError(name, f"{name} must be between {low:g} and {high:g} (got {value!r})")
    return value


def _choice(body: dict, name: str, default: str, choices) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(sorted(choices))
        raise FieldError(name, f"{name} must be one of {listed} (got {value!r})")
    return value


def _object(body, allowed: set[str]) -> dict:
    if not isinstance(body, dict):
        raise FieldError("body", "the request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise FieldError(unknown[0], f"unknown field {unknown[0]!r} (known: {', '.join(sorted(allowed))})")
    return body


_PERFORMANCE_FIELDS = {"chart", "bars", "tempo", "meter", "key", "instrument", "style", "band", "model", "seed",
                       "temperature", "top_k"}


def performance(body: dict, models, extra_fields: set[str] = frozenset()) -> Performance:
    """Parse the fields every playing request has (`models`: the names the server offers)."""
    body = _object(body, _PERFORMANCE_FIELDS | extra_fields)
    chart = body.get("chart", "")
    if not isinstance(chart, str) or not chart.strip():
        raise FieldError("chart", "chart must be chord changes like 'Dm7 G7 | Cmaj7'")
    if len(chart) > MAX_CHART_CHARS:
        raise FieldError("chart", f"chart is longer than {MAX_CHART_CHARS} characters ({len(chart)})")
    optional = {name: body.get(name) not in (None, "") for name in ("bars", "tempo", "key", "style")}
    return Performance(
        chart=chart,
        bars=_number(body, "bars", None, 1, MAX_BARS, integer=True) if optional["bars"] else None,
        tempo=float(_number(body, "tempo", None, *TEMPO_RANGE, integer=False)) if optional["tempo"] else None,
        meter=_choice(body, "meter", "4/4", METERS),
        key=_choice(body, "key", None, KEYS) if optional["key"] else None,
        instrument=_choice(body, "instrument", "tenor sax", INSTRUMENTS),
        style=_choice(body, "style", None, STYLES) if optional["style"] else None,
        band=_choice(body, "band", "trio", BANDS),
        model=_choice(body, "model", "default", models),
        seed=_number(body, "seed", 0, *SEED_RANGE, integer=True),
        temperature=float(_number(body, "temperature", 1.0, *TEMPERATURE_RANGE, integer=False)),
        top_k=_number(body, "top_k", 0, *TOP_K_RANGE, integer=True),
    )


def regenerate(body: dict, takes_known) -> tuple[int, int, int, float, int, int]:
    """(take, first_bar, last_bar, temperature, seed, top_k) of a "regenerate bars" request."""
    body = _object(body, {"take", "first_bar", "last_bar", "temperature", "seed", "top_k"})
    take = body.get("take")
    if isinstance(take, bool) or not isinstance(take, int) or take not in takes_known:
        raise FieldError("take", f"take must be one of this session's takes (got {take!r})")
    first = _number(body, "first_bar", None, 1, MAX_BARS, integer=True)
    last = _number(body, "last_bar", None, 1, MAX_BARS, integer=True)
    if last < first:
        raise FieldError("last_bar", f"last_bar ({last}) is before first_bar ({first})")
    return (take, first, last, float(_number(body, "temperature", 1.0, *TEMPERATURE_RANGE, integer=False)),
            _number(body, "seed", 0, *SEED_RANGE, integer=True), _number(body, "top_k", 0, *TOP_K_RANGE, integer=True))


def trade_bars(body: dict) -> tuple[int, int]:
    """(bars per turn, rounds) of a trade request; the rest is its `performance`."""
    per_turn = body.get("trade_bars", 4)
    if isinstance(per_turn, bool) or per_turn not in TRADE_BARS:
        raise FieldError("trade_bars", f"trade_bars must be 2, 4 or 8 (got {per_turn!r})")
    rounds = _number(body, "rounds", 2, 1, MAX_TRADE_ROUNDS, integer=True)
    return per_turn, rounds


def phrase(body: dict) -> tuple[int, int, list[tuple[int, float, float, int]]]:
    """(trade id, round from 0, notes) of a trading answer request.

    Each note is [pitch, start_beat, duration_beats, velocity] with beats counted from the
    start of the chart (the count-in is before beat 0).
    """
    body = _object(body, {"trade", "round", "notes"})
    trade = _number(body, "trade", None, 0, 10**9, integer=True)
    round_ = _number(body, "round", None, 0, MAX_TRADE_ROUNDS - 1, integer=True)
    notes = body.get("notes")
    if not isinstance(notes, list) or len(notes) > MAX_PHRASE_NOTES:
        raise FieldError("notes", f"notes must be a list of at most {MAX_PHRASE_NOTES} "
                                  "[pitch, start, duration, velocity]")
    parsed = []
    for i, note in enumerate(notes):
        ok = (isinstance(note, list) and len(note) == 4
              and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in note))
        if ok:
            pitch, start, duration, velocity = note
            ok = (pitch == int(pitch) and 0 <= pitch <= 127 and 0 <= start <= MAX_BARS * 8
                  and 0 < duration <= 64 and velocity == int(velocity) and 1 <= velocity <= 127)
        if not ok:
            raise FieldError("notes", f"notes[{i}] must be [pitch 0-127, start >= 0, duration > 0, velocity 1-127] "
                                      f"(got {note!r})")
        parsed.append((int(pitch), float(start), float(duration), int(velocity)))
    return trade, round_, sorted(parsed, key=lambda n: n[1])
