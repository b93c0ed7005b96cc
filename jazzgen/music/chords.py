"""Chord symbols: parse WJD and common jazz spellings into a root and a set of pitch classes.

Two spelling families are read, without music21 (it spells flats with '-', so a raw 'Bb7'
would become B7 there):

- Weimar Jazz Database: ``F-7`` (minor), ``Ebj7`` (major seventh), ``Bbo``/``Bbo7`` (dim, dim7),
  ``C+7``, ``Fsus7`` and tensions with the accidental *after* the number: ``D79b`` (7 b9),
  ``C7911#`` (7 9 #11), ``Bb79b13b``; ``NC`` for no chord.
- Common lead-sheet style: ``Cmaj7``, ``CM7``, ``C∆7``, ``Cm7``, ``Cmin7``, ``Cø7``, ``C°7``,
  ``Cdim7``, ``Caug``, ``C7#9``, ``C7(b9,#11)``, ``C13``, ``C7sus4``, ``Csus2``, ``Cadd9``,
  ``C6/9``, ``C/E``, ``N.C.``.

A parsed chord also carries a chord-scale, which the value tokenizer uses to tell scale tones
from other tones, and `recognize_chord` names the chord sounding in an accompaniment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jazzgen.errors import ChordParseError, JazzgenError

if TYPE_CHECKING:  # score imports this module, so ChordSpan is imported late at run time
    from jazzgen.music.score import ChordSpan


@dataclass(frozen=True)
class Chord:
    """A parsed chord symbol.

    Attributes:
        symbol: the text as written ("Bb7", "F-7", "N.C.").
        root: pitch class 0..11 (C = 0), or None for no chord (N.C.).
        pitch_classes: the chord tones, root first then ascending intervals, as pitch classes.
            A slash bass that is not a chord tone is included: it sounds.
        bass: pitch class of the bass for slash chords ("C/E" -> 4), else the root.
        scale: the chord-scale pitch classes used to tell scale tones from other tones
            (same order convention; always contains every chord tone).
    """

    symbol: str
    root: int | None
    pitch_classes: tuple[int, ...]
    bass: int | None
    scale: tuple[int, ...]

    @property
    def is_no_chord(self) -> bool:
        return self.root is None


NO_CHORD = Chord("NC", None, (), None, ())

_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = {"#": 1, "♯": 1, "b": -1, "♭": -1, "+": 1, "-": -1}
_NO_CHORD_TEXT = {"", "NC", "N.C.", "N.C", "N/C", "NC."}
_NOTE_NAME = re.compile(r"([A-Ga-g])([#b♯♭]*)$")
# Canonical spelling of the 12 roots: the flats jazz players read, except F#.
_ROOT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Head of the quality: half-diminished / diminished / augmented, or minor and/or major-seventh.
_HEAD = re.compile(
    r"(?P<hdim>m7b5|-7b5|min7b5|ø7?|Ø7?)|(?P<dim>dim|o|°|º)|(?P<aug>aug|\+)"
    r"|(?P<minor>min|mi|m(?!a)|-)?(?P<maj>maj|ma|M|j|Δ|∆|\^)?"
)
# Tensions: a word, or a degree with its accidental before it (lead sheets: 7b9, 7#11) ...
_WORDS = r"(?P<word>sus[24]?|alt|add|maj|M|j|Δ|∆|\^)"
_PREFIX_TOKEN = re.compile(_WORDS + r"|(?P<acc>[#b+\-♯♭]?)(?P<num>13|11|9|7|6|5|4|2)")
# ... or after it, as the WJD writes them (79b = 7 b9, 7911# = 7 9 #11).
_SUFFIX_TOKEN = re.compile(_WORDS + r"|(?P<num>13|11|9|7|6|5|4|2)(?P<acc>[#b♯♭]?)")
# Semitones above the root of each written degree, before its accidental.
_DEGREE = {2: 2, 4: 5, 5: 7, 6: 9, 7: 10, 9: 2, 11: 5, 13: 9}

_SCALE = {  # intervals above the root
    "ionian": (0, 2, 4, 5, 7, 9, 11), "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10), "lydian b7": (0, 2, 4, 6, 7, 9, 10),
    "mixolydian b13": (0, 2, 4, 5, 7, 8, 10), "phrygian dominant": (0, 1, 4, 5, 7, 8, 10),
    "half-whole": (0, 1, 3, 4, 6, 7, 9, 10), "whole-half": (0, 2, 3, 5, 6, 8, 9, 11),
    "altered": (0, 1, 3, 4, 6, 8, 10), "whole tone": (0, 2, 4, 6, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10), "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10), "melodic minor": (0, 2, 3, 5, 7, 9, 11),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11), "locrian": (0, 1, 3, 5, 6, 8, 10),
    "locrian #2": (0, 2, 3, 5, 6, 8, 10), "lydian augmented": (0, 2, 4, 6, 8, 9, 11),
}
# Chord-scales to try per family, in order of preference.
_SCALES = {
    "maj": ("ionian", "lydian"),
    "dom": ("mixolydian", "lydian b7", "mixolydian b13", "half-whole", "phrygian dominant",
            "altered", "whole tone"),
    "alt": ("altered",),
    "aug": ("whole tone", "lydian augmented", "altered"),
    "augmaj": ("lydian augmented",),
    "min": ("dorian", "aeolian", "phrygian", "melodic minor"),
    "min6": ("melodic minor", "dorian"),
    "minmaj": ("melodic minor", "harmonic minor"),
    "hdim": ("locrian", "locrian #2"),
    "dim": ("whole-half",),
    "sus": ("mixolydian", "phrygian"),
}
# Recognition templates, also the canonical suffixes; earlier wins exact ties (Am7 over C6).
TEMPLATES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7), "m": (0, 3, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10), "m7b5": (0, 3, 6, 10), "dim7": (0, 3, 6, 9), "6": (0, 4, 7, 9),
    "m6": (0, 3, 7, 9), "7sus4": (0, 5, 7, 10), "sus4": (0, 5, 7), "aug": (0, 4, 8),
    "dim": (0, 3, 6),
}

# Further canonical names, used when naming a parsed chord.
_MORE_NAMES = {"7alt": (0, 1, 3, 4, 6, 8, 10), "m(maj7)": (0, 3, 7, 11), "7#5": (0, 4, 8, 10),
               "maj7#5": (0, 4, 8, 11), "sus2": (0, 2, 7)}


def _note_pc(text: str) -> int | None:
    """'Bb' -> 10, 'f#' -> 6; None if `text` is not a note name."""
    m = _NOTE_NAME.match(text)
    if not m:
        return None
    return (_LETTER_PC[m.group(1).upper()] + sum(_ACCIDENTAL[a] for a in m.group(2))) % 12


def _split_root(text: str) -> tuple[int, str]:
    """Root pitch class and the rest of the symbol; the root's accidentals are '#' and 'b' only."""
    m = re.match(r"([A-Ga-g])([#b♯♭]*)", text)
    if not m:
        raise ValueError("no root note")
    return _note_pc(m.group(0)), text[m.end():]


@dataclass
class _Parts:
    """What a quality string says, before it becomes intervals."""

    third: int | None = 4  # 4 major, 3 minor, None when suspended
    fifth: int | None = 7  # 7, 6 (b5) or 8 (#5); None for alt
    seventh: int | None = None  # 10, 11 (major), 9 (diminished)
    sixth: bool = False
    major: bool = False  # a major-seventh marker was written
    diminished: bool = False  # the head said dim / o / °
    alt: bool = False
    tensions: frozenset[int] = frozenset()


def _read_tensions(rest: str, parts: _Parts, token: re.Pattern) -> None:
    """Consume the tension string into `parts`; ValueError on anything left unread."""
    pos, add_next, tensions = 0, False, set(parts.tensions)
    while pos < len(rest):
        m = token.match(rest, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read {rest[pos:]!r}")
        pos = m.end()
        word = m.group("word")
        if word:
            if word.startswith("sus"):
                parts.third = None
                tensions.add(2 if word == "sus2" else 5)
            elif word == "alt":
                parts.alt = True
            elif word != "add":  # a major-seventh marker inside the tensions: Cm(maj7)
                parts.major = True
            add_next = word == "add"
            continue
        num, shift = int(m.group("num")), _ACCIDENTAL.get(m.group("acc"), 0)
        if shift and num in (2, 4, 7):
            raise ValueError(f"no altered {num}th")
        if num == 7:
            parts.seventh = 9 if parts.diminished else 11 if parts.major else 10
        elif num == 6 and not shift:
            parts.sixth = True
        elif num == 5:
            parts.fifth = 7 + shift
        else:
            tensions.add((_DEGREE[num] + shift) % 12)
            # A bare 9/11/13 names a seventh chord with the tensions below it (C13 = C7 9 13).
            if num >= 9 and parts.seventh is None and not (shift or add_next or parts.sixth):
                parts.seventh = 11 if parts.major else 10
                tensions |= {2} if num > 9 else set()
        add_next = False
    parts.tensions = frozenset(tensions)


def _parse_quality(quality: str) -> _Parts:
    """Quality text (after the root, before any slash bass) -> its parts."""
    head = _HEAD.match(quality)
    parts, rest = _Parts(), quality[head.end():]
    if head.group("hdim"):
        parts.third, parts.fifth, parts.seventh = 3, 6, 10
    elif head.group("dim"):
        parts.third, parts.fifth, parts.diminished = 3, 6, True
    elif head.group("aug"):
        parts.fifth = 8
        maj = re.match(r"maj|M|j|Δ|∆|\^", rest)
        parts.major, rest = bool(maj), rest[maj.end():] if maj else rest
    else:
        parts.third = 3 if head.group("minor") else 4
        parts.major = bool(head.group("maj"))
        # Cj / C∆ alone mean major seventh; Cmaj / CM alone mean the major triad.
        if head.group("maj") in ("j", "Δ", "∆", "^") and not re.match(r"[0-9]", rest):
            parts.seventh = 11
    # Parentheses and commas only separate tensions, and force lead-sheet (prefix) order.
    bracketed = bool(re.search(r"[(),/ ]", rest))
    rest = re.sub(r"[(),/ ]", "", rest)
    if bracketed:
        orders = (_PREFIX_TOKEN,)
    elif re.search(r"79|69", rest) or rest[-1:] in ("#", "b"):  # written the WJD way
        orders = (_SUFFIX_TOKEN, _PREFIX_TOKEN)
    else:
        orders = (_PREFIX_TOKEN, _SUFFIX_TOKEN)
    for order in orders:
        attempt = _Parts(**vars(parts))
        try:
            _read_tensions(rest, attempt, order)
            return attempt
        except ValueError as err:
            error = err
    raise error


def _family(p: _Parts) -> str:
    """Which chord-scale list applies."""
    if p.alt:
        return "alt"
    if p.diminished and p.seventh != 10:
        return "dim"
    if p.third == 3 and p.fifth == 6 and p.seventh == 10:
        return "hdim"
    if p.third is None:
        return "sus"
    if p.third == 3:
        return "minmaj" if p.seventh == 11 else "min6" if p.sixth else "min"
    if p.fifth == 8:
        return "augmaj" if p.seventh == 11 else "aug"
    return "dom" if p.seventh == 10 else "maj"


def _intervals(p: _Parts) -> set[int]:
    """Semitones above the root of every chord tone."""
    if p.alt:  # 3, b7 and all four altered tensions, no fifth
        p.third, p.fifth, p.seventh = 4, None, p.seventh or 10
        p.tensions = p.tensions | {1, 3, 6, 8}
    tones = {0} | set(p.tensions)
    tones |= {t for t in (p.third, p.fifth, p.seventh) if t is not None}
    return tones | ({9} if p.sixth else set())


def _ordered(root: int, intervals: set[int] | Sequence[int]) -> tuple[int, ...]:
    """Pitch classes, root first, then by ascending interval."""
    return tuple((root + i) % 12 for i in sorted(set(intervals)))


def parse_chord(symbol: str) -> Chord:
    """Parse one chord symbol (WJD or lead-sheet spelling).

    Args:
        symbol: e.g. "Bb7", "F-7", "Ebj7", "D79b", "C7alt", "Ebmaj7#11", "C/E", "N.C.".

    Returns:
        The Chord; `NC`, `N.C.` and empty text give a chord with root None (symbol kept).

    Raises:
        ChordParseError: naming the symbol when it cannot be spelled.
    """
    text = symbol.strip()
    if text.upper() in _NO_CHORD_TEXT:
        return Chord(symbol, None, (), None, ())
    try:
        head, slash, tail = text.rpartition("/")
        bass = _note_pc(tail) if slash else None
        body = head if bass is not None else text
        root, quality = _split_root(body)
        parts = _parse_quality(quality)
    except ValueError as err:
        raise ChordParseError(symbol, str(err)) from None
    family = _family(parts)
    intervals = _intervals(parts)
    if bass is not None:
        intervals.add((bass - root) % 12)  # the slash bass sounds, so it is a chord tone
    # The first listed scale holding every chord tone; for unusual chords the nearest one,
    # widened by the tones it misses (so the scale always contains the chord).
    scales = [_SCALE[name] for name in _SCALES[family]]
    scale = min(scales, key=lambda s: len(intervals - set(s))) + tuple(intervals)
    return Chord(symbol, root, _ordered(root, intervals), root if bass is None else bass,
                 _ordered(root, scale))


def chord_symbol_text(chord: Chord) -> str:
    """A canonical lead-sheet spelling of `chord` ("Dm7", "G7(b9)", "C/E", "N.C.").

    The name is checked by parsing it back; when no canonical name gives the same pitch
    classes and bass, the chord's own symbol is returned.
    """
    if chord.root is None:
        return "N.C."
    root = chord.root
    intervals = {(pc - root) % 12 for pc in chord.pitch_classes}
    slash = "" if chord.bass in (None, root) else "/" + _ROOT_NAMES[chord.bass]
    names7 = {1: "b9", 2: "9", 3: "#9", 5: "11", 6: "#11", 8: "b13", 9: "13"}
    bases = dict(TEMPLATES, **_MORE_NAMES)
    for suffix, base in sorted(bases.items(), key=lambda kv: -len(kv[1])):
        extra = intervals - set(base) - ({(chord.bass - root) % 12} if slash else set())
        if not set(base) <= intervals or not extra <= set(names7):
            continue
        add = "" if {9, 10, 11} & set(base[1:]) and suffix not in ("6", "m6") else "add"
        tensions = ",".join(add + names7[i] for i in sorted(extra))
        name = _ROOT_NAMES[root] + suffix + (f"({tensions})" if tensions else "") + slash
        try:
            again = parse_chord(name)
        except ChordParseError:
            continue
        if set(again.pitch_classes) == set(chord.pitch_classes) and again.bass == chord.bass:
            return name
    return chord.symbol


def parse_progression(text: str, beats_per_bar: float = 4.0) -> list[ChordSpan]:
    """Typed chord changes -> contiguous chord spans from beat 0.

    Bars are separated by '|' ("Bb7 | Eb7 | Dm7 G7 | Cmaj7"); several chords in one bar split
    it evenly. Without any '|', every chord fills one bar ("Dm7 G7 Cmaj7").

    Args:
        text: the changes; leading/trailing '|' and repeated spaces are fine.
        beats_per_bar: quarter notes per bar.

    Returns:
        Spans in order; N.C. gives a span whose chord has root None.

    Raises:
        JazzgenError: empty text or an empty bar; ChordParseError for an unknown symbol.
    """
    from jazzgen.music.score import ChordSpan

    bars = [b.split() for b in text.split("|")] if "|" in text else [[c] for c in text.split()]
    while bars and not bars[0]:
        bars.pop(0)
    while bars and not bars[-1]:
        bars.pop()
    if not bars:
        raise JazzgenError(f"empty chord progression {text!r}: give changes like 'Dm7 G7 | Cmaj7'")
    spans = []
    for number, bar in enumerate(bars):
        if not bar:
            raise JazzgenError(f"bar {number + 1} of {text!r} has no chord")
        step = beats_per_bar / len(bar)
        for k, symbol in enumerate(bar):
            spans.append(ChordSpan(parse_chord(symbol), number * beats_per_bar + k * step, step))
    return spans


def recognize_chord(
    weights: Mapping[int, float] | Sequence[float],
    bass_pc: int | None = None,
    templates: Sequence[str] | None = None,
) -> Chord | None:
    """Name the chord sounding from pitch-class weights (e.g. note durations in one beat).

    Every root x template in `TEMPLATES` is scored as: matched weight share − 0.2 per template
    tone that hardly sounds; exact ties go to the bass as root, then the louder root, then the
    earlier template. A sounding bass that is not the root becomes a slash ("C/E").

    Args:
        weights: {pitch class (any int, taken mod 12): weight} or 12 weights indexed by pc.
        bass_pc: pitch class of the lowest note, if known.
        templates: the suffixes of `TEMPLATES` to consider (default all), e.g. the triads and
            sevenths ("", "m", "7", "maj7", "m7", "m7b5", "dim7", "dim", "aug").

    Returns:
        The chord parsed from its canonical symbol ('Dm7', 'G7', 'F#m7b5'), or None when
        nothing sounds.
    """
    w = [0.0] * 12
    items = weights.items() if isinstance(weights, Mapping) else enumerate(weights)
    for pc, value in items:
        w[int(pc) % 12] += max(float(value), 0.0)
    total = sum(w)
    if total <= 0:
        return None
    heard = 0.1 * max(w)
    best, best_key = None, None
    for order, (suffix, template) in enumerate(TEMPLATES.items()):
        if templates is not None and suffix not in templates:
            continue
        for root in range(12):
            tones = [(root + i) % 12 for i in template]
            score = sum(w[t] for t in tones) / total - 0.2 * sum(w[t] < heard for t in tones)
            key = (round(score, 9), root == bass_pc, w[root], -order, -root)
            if best_key is None or key > best_key:
                best, best_key = (root, suffix), key
    root, suffix = best
    symbol = _ROOT_NAMES[root] + suffix
    if bass_pc is not None and bass_pc % 12 != root and w[bass_pc % 12] > 0:
        symbol += "/" + _ROOT_NAMES[bass_pc % 12]
    return parse_chord(symbol)
