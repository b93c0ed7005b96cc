"""Human-written dates and their ISO form, generated from a seed (the encoder-decoder task).

    "3 May 1979", "thursday, 03/05/79", "May 3rd, 1979", "03.05.1979"  ->  "1979-05-03"

Numeric formats read day/month/year; two-digit years mean 1930-2029 (`yy` < 30 is 20yy), so
every input has exactly one answer. Weekdays are the true weekday of the date. Inputs are lower
case: the model folds case, so "3 MAY 1979" reads as "3 may 1979". No download:
`date_pairs(n, seed)` returns the same pairs for the same arguments on every machine.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

FIRST_DAY = dt.date(1930, 1, 1)
LAST_DAY = dt.date(2029, 12, 31)
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


# Each format: date -> text. d = day, m = month, y = year; "MMM" = 3-letter month name.
FORMATS = {
    "d MMMM yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "dd MMMM yyyy": lambda d: f"{d.day:02d} {MONTHS[d.month - 1]} {d.year}",
    "d MMM yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "d MMM yy": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year % 100:02d}",
    "MMMM d, yyyy": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "MMMM dth, yyyy": lambda d: f"{MONTHS[d.month - 1]} {_ordinal(d.day)}, {d.year}",
    "dth of MMMM yyyy": lambda d: f"{_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    "EEEE, dd/mm/yy": lambda d: f"{WEEKDAYS[d.weekday()]}, {d:%d/%m/%y}",
    "EEEE d MMMM yyyy": lambda d: f"{WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}",
    "EEE d MMM yyyy": lambda d: f"{WEEKDAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1][:3]} "
                                f"{d.year}",
    "dd/mm/yyyy": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    "d/m/yy": lambda d: f"{d.day}/{d.month}/{d.year % 100:02d}",
    "dd.mm.yyyy": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "dd-mm-yy": lambda d: f"{d.day:02d}-{d.month:02d}-{d.year % 100:02d}",
}
MAX_PAIRS = 200_000  # well below the ~400,000 distinct inputs, so generation ends quickly


def iso(date: dt.date) -> str:
    """The target form, YYYY-MM-DD."""
    return date.isoformat()


def date_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """`n` distinct (human date, ISO date) pairs, the same for the same `n` and `seed`.

    Raises:
        ValueError: n < 1.
    """
    if not 1 <= n <= MAX_PAIRS:
        raise ValueError(f"want 1 to {MAX_PAIRS} date pairs, got {n}")
    rng = np.random.default_rng(seed)
    span = (LAST_DAY - FIRST_DAY).days + 1
    names = sorted(FORMATS)
    pairs: dict[str, str] = {}  # source -> target; a repeated source would leak across splits
    while len(pairs) < n:
        date = FIRST_DAY + dt.timedelta(days=int(rng.integers(span)))
        text = FORMATS[names[int(rng.integers(len(names)))]](date)
        pairs.setdefault(text, iso(date))
    return list(pairs.items())
