"""The tune book: the changes of every tune in the bundled Weimar Jazz Database solos, by title.

`jazzgen/assets/tunes/wjd_tunes.json` holds one entry per tune: title, estimated key, meter,
form length in bars, how many solos of the corpus are over it, the solos' file stems, and one
chorus of its changes as chart text (from the first solo's beat table). It is rebuilt from the
WJD beat tables with ``python -m jazzgen.music.tunes WJD_DIR/beats OUT.json``; the data is
derived from the WJD (ODbL, notice beside the file).
"""

from __future__ import annotations

import csv
import functools
import json
import re
import sys
from collections import Counter
from pathlib import Path

from jazzgen.errors import UsageError
from jazzgen.music.chart_writer import chart_text
from jazzgen.music.charts import Chart, ChartBar, parse_chart
from jazzgen.music.chords import parse_chord

BOOK = Path(__file__).resolve().parent.parent / "assets" / "tunes" / "wjd_tunes.json"
_SMALL_WORDS = {"and", "the", "of", "a", "an", "in", "to", "for", "on", "at", "by", "with", "from", "is", "as"}
_ROOTS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MAJOR, _MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)


@functools.cache
def tune_book() -> tuple[dict, ...]:
    """Every tune of the bundled book, sorted by title."""
    return tuple(json.loads(BOOK.read_text(encoding="utf-8")))


def _norm(text: str) -> str:
    """'All the Things You Are' and 'all-the things you are!' compare equal."""
    return re.sub(r"[^a-z0-9]+", "", text.casefold())


def search_tunes(query: str = "") -> list[dict]:
    """Tunes whose title contains `query` (case, spaces and punctuation ignored)."""
    q = _norm(query)
    return [t for t in tune_book() if q in _norm(t["title"])]


def find_tune(name: str) -> dict:
    """The tune called `name`: an exact title, else the one title it starts (or is found in).

    Raises:
        UsageError: no tune matches, or several do (the message lists them).
    """
    q = _norm(name)
    if not q:
        raise UsageError("--tune: give a title (jazzgen tunes lists them)")
    for matches in ([t for t in tune_book() if _norm(t["title"]) == q],
                    [t for t in tune_book() if _norm(t["title"]).startswith(q)],
                    search_tunes(name)):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            titles = ", ".join(t["title"] for t in matches[:12]) + (" ..." if len(matches) > 12 else "")
            raise UsageError(f"--tune {name!r} matches {len(matches)} tunes: {titles}")
    raise UsageError(f"--tune {name!r}: no such tune in the book (`jazzgen tunes` lists {len(tune_book())})")


def tune_chart(entry: dict) -> Chart:
    """The tune's changes (one chorus) as a Chart."""
    return parse_chart(entry["chart"], source=entry["title"])


def title_of(stem: str) -> str:
    """The tune title of a corpus file stem ("ArtPepper_Anthropology" -> "Anthropology")."""
    for entry in tune_book():
        if stem in entry.get("sources", ()):
            return entry["title"]
    return title_from_stem(stem)


def title_from_stem(stem: str) -> str:
    """'JohnColtrane_GiantSteps-1' -> 'Giant Steps'; "I'llRememberApril" -> "I'll Remember April"."""
    fields = stem.removesuffix("_Solo").split("_")  # Player_Title[_Take]
    name = re.sub(r"-\d+$", "", fields[1] if len(fields) > 1 else fields[0])  # -2: a second solo
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=[A-Z.'])(?=[A-Z][a-z])", " ", name).split()
    return " ".join(w.lower() if 0 < i < len(words) - 1 and w.lower() in _SMALL_WORDS else w
                    for i, w in enumerate(words))


def estimate_key(chart: Chart) -> str:
    """The key the changes are most likely in ("Bb", "Cm"): scale fit, tonic chords (the more so
    when a dominant resolves to them), the first and last chords."""
    weights: Counter = Counter()
    for bar in chart.bars:
        for chord, beats in bar.chords:
            if chord.root is not None:
                weights[chord] += beats
    if not weights:
        return "C"
    played = [(c, b) for bar in chart.bars for c, b in bar.chords if c.root is not None]
    first, last = played[0][0], played[-1][0]
    # Beats of each chord reached from its dominant a fifth above (G7 -> Cmaj7).
    resolved: Counter = Counter()
    for (before, _), (chord, beats) in zip(played, played[1:]):
        intervals = {(pc - before.root) % 12 for pc in before.pitch_classes}
        if {4, 10} <= intervals and (before.root - chord.root) % 12 == 7:
            resolved[chord] += beats
    best, best_score = "C", float("-inf")
    for tonic in range(12):
        for minor, scale in ((False, _MAJOR), (True, _MINOR)):
            pcs = {(tonic + i) % 12 for i in scale}
            score = 0.0
            for chord, beats in weights.items():
                fit = sum(pc in pcs for pc in chord.pitch_classes) / len(chord.pitch_classes)
                share = beats / chart.total_beats
                tonic_chord = _tonic_weight(chord, minor, share) if chord.root == tonic else 0.0
                score += beats * (fit + tonic_chord) + resolved[chord] * _resolves_home(chord, tonic, minor)
            # Tunes tend to start on their tonic chord and end on it (or a turnaround after it).
            for edge in (first, last):
                if edge.root == tonic:
                    score += 4.0 * _tonic_weight(edge, minor, weights[edge] / chart.total_beats)
            if score > best_score + 1e-9:
                best, best_score = _ROOTS[tonic] + ("m" if minor else ""), score
    return best


def _resolves_home(chord, tonic: int, minor: bool) -> bool:
    """Whether a dominant landing on `chord` says "this is the tonic": a maj7/6/triad (a minor
    key: m6 or m(maj7)); not a dominant (blues: I7 -> IV7) nor a plain minor chord (V7 -> ii)."""
    if chord.root != tonic:
        return False
    intervals = {(pc - chord.root) % 12 for pc in chord.pitch_classes}
    if minor:
        return 3 in intervals and bool({9, 11} & intervals)
    return 4 in intervals and 10 not in intervals


def _tonic_weight(chord, minor: bool, share: float) -> float:
    """How much a chord on the tonic says 'this key': maj7/6, m6/m(maj7) fully, a blues seventh
    half; a m7 fully only when it fills a quarter of the tune (modal), else it is likely a ii."""
    intervals = {(pc - chord.root) % 12 for pc in chord.pitch_classes}
    if minor:
        if 3 not in intervals or 4 in intervals or 6 in intervals:
            return 0.0
        return 0.3 if 10 in intervals and share < 0.25 else 1.0
    if 4 not in intervals:
        return 0.0
    return 0.5 if 10 in intervals else 1.0


# -- building the book from the WJD beat tables ------------------------------------------------


def chorus_chart(beats_csv: Path) -> Chart | None:
    """The first chorus of a WJD beat table as a Chart (None when it has no chorus or no chord)."""
    with open(beats_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    bars: dict[int, list[str]] = {}
    chord = "NC"
    for row in rows:
        chord = row["chord"].strip() or chord
        if row["chorus_id"].strip() == "1":
            bars.setdefault(int(row["bar"]), []).append(chord)
    if not bars or all(parse_chord(c).root is None for beats in bars.values() for c in beats):
        return None
    out = []
    for number, beats in sorted(bars.items()):
        pieces: list[list] = []
        for symbol in beats:
            if pieces and pieces[-1][0] == symbol:
                pieces[-1][1] += 1.0
            else:
                pieces.append([symbol, 1.0])
        out.append(ChartBar(tuple((parse_chord(s), b) for s, b in pieces), (len(beats), 4), number))
    return Chart(tuple(out), form_bars=len(out))


def build_tune_book(beats_dir: Path) -> list[dict]:
    """One entry per tune title over every `*_Solo.csv` beat table in `beats_dir`."""
    by_title: dict[str, list[Path]] = {}
    for path in sorted(Path(beats_dir).glob("*_Solo.csv")):
        by_title.setdefault(title_from_stem(path.stem), []).append(path)
    book = []
    for title, paths in sorted(by_title.items(), key=lambda kv: _norm(kv[0])):
        chart = next((c for c in map(chorus_chart, paths) if c is not None), None)
        if chart is None:
            continue
        key = estimate_key(chart)
        meter = Counter(bar.time_signature for bar in chart.bars).most_common(1)[0][0]
        chart = Chart(chart.bars, title=title, key=key, form_bars=len(chart.bars))
        book.append({"title": title, "key": key, "time_signature": f"{meter[0]}/{meter[1]}",
                     "bars": len(chart.bars), "solos": len(paths),
                     "sources": [p.stem.removesuffix("_Solo") for p in paths],
                     "chart": chart_text(chart, spelled=True)})
    return book


if __name__ == "__main__":  # python -m jazzgen.music.tunes WJD_DIR/beats OUT.json
    entries = build_tune_book(Path(sys.argv[1]))
    Path(sys.argv[2]).write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} tunes to {sys.argv[2]}")
