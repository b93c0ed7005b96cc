"""Read MusicXML lead sheets (.xml, .mxl, .musicxml) into a `Score`: melody plus chord symbols.

music21 does the parsing (imported here, lazily: it is slow to load) and stays inside this
module. What is taken from a file:

- the melody: the first part, repeats expanded, ties merged, made monophonic (the highest note
  of a written chord; a note is cut at the next onset); grace notes are dropped;
- the harmony: every chord symbol (`<harmony>`), spelled the way jazzgen's own parser reads it
  (music21 writes flats as '-', so its 'B-7' would read as B minor 7) and parsed with
  `jazzgen.music.chords.parse_chord`; a symbol that parser refuses is named from the pitches
  music21 built for it. Several symbols written at one position (say two over a whole-bar rest)
  share the time to the next symbol evenly. A lead sheet without any symbols gets one chord per
  bar inferred from its melody;
- the first time signature; the tempo marks (120 qpm when there is none);
- a pickup bar keeps the bar lines where they are: beat 0 is the downbeat of the (incomplete)
  first bar, so the first notes start after a rest.

Repeats that music21 cannot expand (malformed repeat marks) are read as written, once through,
and `score.meta["repeats"]` says so.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path

from jazzgen.core.files import check_input
from jazzgen.errors import ChordParseError, InputError
from jazzgen.music.chords import Chord, parse_chord, recognize_chord
from jazzgen.music.score import ChordSpan, Note, Score
from jazzgen.music.tracks import chords_from_melody, make_monophonic

DEFAULT_TEMPO_QPM = 120.0  # MusicXML without a tempo mark: what players assume
_ROOT = re.compile(r"([A-G])([#\-]*)")
# music21 appends degree changes to its figure: "B-7 add b9", "A7 alter b5", "C subtract 5".
_DEGREE = re.compile(r"\s*(add|alter|subtract|omit)\s*([#b\-]*)(\d+)")


def read_musicxml(path: str | os.PathLike, max_bytes: int = 20_000_000) -> Score:
    """Read one MusicXML lead sheet.

    Args:
        path: a .mxl (compressed), .xml or .musicxml file.
        max_bytes: larger files are refused ("too long").

    Returns:
        The score, in beats from the downbeat of the first bar. `score.meta` holds
        "melody_track" (the first part's name), "melody_reason", "chord_source" ("chord
        symbols" or "inferred from melody"), "bars", "pickup_beats" and "repeats"
        ("expanded", "none" or "not expanded: ...").

    Raises:
        InputError: "unreadable MusicXML" (music21 cannot parse it), "no melody found" (no
            part, or only later parts hold notes), "no notes"; "missing file", "not a regular
            file", "too long" before music21 opens it.
    """
    check_input(path, max_bytes)  # music21 would block on a FIFO and read a device forever
    from music21 import converter, stream

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # music21 warns about every odd MusicXML detail
        try:
            parsed = converter.parseFile(Path(path), forceSource=True, storePickle=False)
        except Exception as e:  # music21, zipfile and XML errors of every kind
            raise InputError(path, "unreadable MusicXML", f"{type(e).__name__}: {e}"[:200]) from e
        if isinstance(parsed, stream.Opus):
            parsed = parsed.scores[0] if parsed.scores else stream.Score()
        parts = list(parsed.parts) if isinstance(parsed, stream.Score) else [parsed]
        if not parts:
            raise InputError(path, "no melody found", "no parts")
        part, repeats = _expand_repeats(parts[0])
        part = part.stripTies()
        pickup = _pickup_beats(part)
        flat = part.flatten()
        notes = make_monophonic(_melody(flat, pickup))
        if not notes:
            if any(p.flatten().notes for p in parts[1:]):
                raise InputError(path, "no melody found", "the first part has no notes")
            raise InputError(path, "no notes")
        end = float(flat.highestTime) + pickup
        chords = _chord_spans(flat, pickup, end)
        time_signature = _time_signature(flat)
        tempo_qpm, tempo_changes = _tempos(flat, pickup, notes[0].start_beat)
        name = (parts[0].partName or "").strip()
    chord_source = "chord symbols"
    if not chords:
        beats_per_bar = time_signature[0] * 4.0 / time_signature[1]
        chords = chords_from_melody(notes, beats_per_bar)
        chord_source = "inferred from melody"
    score = Score(notes=notes, chords=tuple(chords), time_signature=time_signature,
                  tempo_qpm=tempo_qpm, tempo_changes=tempo_changes, source=str(path))
    score.meta.update(
        melody_track=name or "part 1",
        melody_reason="first part of the lead sheet",
        chord_source=chord_source,
        bars=math.ceil(score.end_beat / score.beats_per_bar - 1e-9),
        pickup_beats=pickup,
        repeats=repeats,
    )
    return score


def _expand_repeats(part):
    """(the part with its repeats written out, what happened) — as written when they are malformed."""
    from music21 import repeat

    if not any(True for _ in part.recurse().getElementsByClass(repeat.RepeatMark)):
        return part, "none"
    try:
        return part.expandRepeats(), "expanded"
    except Exception as e:  # repeat.ExpanderException and friends on malformed repeat marks
        return part, f"not expanded: malformed repeats ({type(e).__name__}), read once through"


def _pickup_beats(part) -> float:
    """Beats missing from an incomplete first bar (an anacrusis), 0.0 when it is complete."""
    from music21 import stream

    first = part.getElementsByClass(stream.Measure).first()
    if first is None:
        return 0.0
    if first.paddingLeft:
        return float(first.paddingLeft)
    try:
        missing = float(first.barDuration.quarterLength) - float(first.duration.quarterLength)
    except Exception:  # no time signature in force: no bar to complete
        return 0.0
    return missing if missing > 1e-6 else 0.0


def _melody(flat, pickup: float) -> list[Note]:
    """Every sounding note of a flattened part (chords -> their highest pitch), beats + pickup."""
    from music21 import chord, harmony, note

    notes = []
    for element in flat.notes:
        if isinstance(element, harmony.Harmony):
            continue  # chord symbols are chords in music21: not melody
        length = float(element.quarterLength)
        if length <= 0 or element.duration.isGrace:
            continue
        if isinstance(element, chord.Chord):
            pitches = [p.midi for p in element.pitches if 0 <= p.midi <= 127]
        elif isinstance(element, note.Note):
            pitches = [element.pitch.midi] if 0 <= element.pitch.midi <= 127 else []
        else:  # unpitched percussion
            pitches = []
        if pitches:
            notes.append(Note(max(pitches), float(flat.elementOffset(element)) + pickup, length))
    return notes


def _chord_spans(flat, pickup: float, end: float) -> list[ChordSpan]:
    """One span per chord symbol, to the next symbol's position (symbols sharing one split it)."""
    from music21 import harmony

    by_beat: dict[float, list[Chord]] = {}
    for symbol in flat.getElementsByClass(harmony.ChordSymbol):
        chord = musicxml_chord(symbol)
        if chord is not None:
            beat = round(float(flat.elementOffset(symbol)) + pickup, 6)
            by_beat.setdefault(beat, []).append(chord)
    beats = sorted(b for b in by_beat if b < end - 1e-6)
    spans: list[ChordSpan] = []
    for beat, following in zip(beats, beats[1:] + [end]):  # no beats: no spans
        group = by_beat[beat]
        step = (following - beat) / len(group)
        for k, chord in enumerate(group):
            if spans and spans[-1].chord == chord and abs(spans[-1].end_beat - (beat + k * step)) < 1e-6:
                last = spans.pop()  # the same symbol written again: one longer span
                spans.append(ChordSpan(chord, last.start_beat, last.duration_beats + step))
            else:
                spans.append(ChordSpan(chord, beat + k * step, step))
    return spans


def musicxml_chord(symbol) -> Chord | None:
    """A music21 ChordSymbol as a jazzgen Chord (None when it names nothing usable).

    The symbol's figure is respelled for `parse_chord` (flats 'b', degree changes in
    parentheses, the slash bass last); when that parser refuses it, the chord is recognised from
    the pitches music21 built, which are right even where its figure is not.
    """
    from music21 import harmony

    if isinstance(symbol, harmony.NoChord):
        return parse_chord("N.C.")
    text = lead_sheet_spelling(symbol.figure, getattr(symbol, "chordKind", ""),
                               getattr(symbol, "chordKindStr", ""))
    if text:
        try:
            return parse_chord(text)
        except ChordParseError:
            pass
    try:
        pitches = [p.pitchClass for p in symbol.pitches]
        bass = symbol.bass().pitchClass if symbol.bass() is not None else None
    except Exception:  # music21 could not build pitches for this kind
        return None
    return recognize_chord({pc: 1.0 for pc in pitches}, bass) if pitches else None


def lead_sheet_spelling(figure: str, kind: str = "", kind_text: str = "") -> str:
    """Respell a music21 figure the way `parse_chord` reads it.

    'B-7' -> 'Bb7', 'A7 alter b5' -> 'A7(b5)', 'E-7/A alter b5' -> 'Eb7(b5)/A', 'C7+' -> 'C7#5',
    'Gsus add 7' -> 'Gsus(add7)'. When music21 knows no abbreviation for the file's chord kind
    its figure is the bare root; the kind's own text from the file ('9+') is used instead.

    Args:
        figure: `ChordSymbol.figure`.
        kind: `ChordSymbol.chordKind` (MusicXML kind, e.g. "augmented-ninth").
        kind_text: `ChordSymbol.chordKindStr` (the file's text for the kind, e.g. "9+").

    Returns:
        The respelled symbol, or "" when `figure` does not start with a note name.
    """
    figure = figure.strip()
    m = _ROOT.match(figure)
    if not m:
        return ""
    root, rest = _flat(m.group(0)), figure[m.end():]
    bass = ""
    slash = re.search(r"/([A-G][#\-]*)", rest)
    if slash:
        bass, rest = "/" + _flat(slash.group(1)), rest[: slash.start()] + rest[slash.end():]
    degrees = []
    for word, accidental, number in _DEGREE.findall(rest):
        if word in ("add", "alter"):  # subtract/omit: the parser has no way to leave a tone out
            degrees.append(("add" if word == "add" else "") + _flat(accidental) + number)
    body = _DEGREE.sub("", rest).strip()
    if not body and kind not in ("", "major", "none") and kind_text:
        body = kind_text.strip()
    body = re.sub(r"(\d)\+", r"\1#5", body)  # '7+' / '9+': augmented fifth
    body = body.replace("Maj", "maj").replace("power", "5").replace(" ", "")
    return root + body + (f"({','.join(degrees)})" if degrees else "") + bass


def _flat(text: str) -> str:
    return text.replace("-", "b")


def _time_signature(flat) -> tuple[int, int]:
    """The first time signature, or 4/4 when there is none (or one a Score does not take)."""
    from music21 import meter

    first = flat.getElementsByClass(meter.TimeSignature).first()
    if first is not None and first.numerator > 0 and first.denominator in (1, 2, 4, 8, 16, 32):
        return int(first.numerator), int(first.denominator)
    return 4, 4


def _tempos(flat, pickup: float, first_note: float) -> tuple[float, tuple[tuple[float, float], ...]]:
    """The starting tempo (120 qpm when unmarked) and later changes, as (beat, qpm)."""
    from music21 import tempo

    marks = []
    for mark in flat.getElementsByClass(tempo.MetronomeMark):
        try:
            qpm = float(mark.getQuarterBPM())
        except Exception:  # a text-only mark ("Slowly") without a number
            continue
        if qpm > 0:
            marks.append((float(flat.elementOffset(mark)) + pickup, qpm))
    if not marks:
        return DEFAULT_TEMPO_QPM, ()
    start = [q for b, q in marks if b <= first_note + 1e-6]
    qpm = start[-1] if start else marks[0][1]
    changes, current = [], qpm
    for beat, q in marks:
        if beat > first_note + 1e-6 and q != current:
            changes.append((beat, q))
            current = q
    return qpm, tuple(changes)
