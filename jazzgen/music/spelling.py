"""Chord and key spelling: lead-sheet names for parsed chords, transposition, keys.

Whatever spelling a chord came in (WJD ``Ebj7``, ``E-7``, ``D79b``), `spell` names it the way
lead sheets do (``Ebmaj7``, ``Em7``, ``D7b9``); `transpose_chord` moves a chord and respells it;
`key_semitones` says how far one key is from another.
"""

from __future__ import annotations

import re
from dataclasses import replace

from jazzgen.errors import ChordParseError, UsageError
from jazzgen.music.chords import Chord, chord_symbol_text, parse_chord

ROOT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
KEY = re.compile(r"([A-Ga-g][#b]?)\s*(m|min|minor|-|maj|major)?$")  # "Bb", "F#m", "C minor"


def pitch_class(name: str) -> int:
    """'Bb' -> 10, 'F#' -> 6 (a key's or root's note name)."""
    letter = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[name[0].upper()]
    return (letter + name[1:].count("#") - name[1:].count("b")) % 12


def transpose_chord(chord: Chord, semitones: int) -> Chord:
    """`chord` moved by `semitones`, named in lead-sheet spelling."""
    if chord.root is None:
        return chord

    def move(pcs: tuple[int, ...]) -> tuple[int, ...]:
        return tuple((pc + semitones) % 12 for pc in pcs)

    bass = None if chord.bass is None else (chord.bass + semitones) % 12
    moved = Chord("", (chord.root + semitones) % 12, move(chord.pitch_classes), bass, move(chord.scale))
    return replace(moved, symbol=spell(moved))


def key_semitones(from_key: str, to_key: str) -> int:
    """Semitones (-5..6) that move `from_key` to `to_key`, e.g. ("Bb", "C") -> 2.

    Raises:
        UsageError: a key that is not a note name (with an optional m/minor).
    """
    pcs = []
    for key in (from_key, to_key):
        m = KEY.match(key.strip())
        if not m:
            raise UsageError(f"--key {key!r}: want a note name such as Bb, F# or Cm")
        pcs.append(pitch_class(m.group(1)))
    return (pcs[1] - pcs[0] + 5) % 12 - 5


def spell(chord: Chord) -> str:
    """Common lead-sheet spelling: Cmaj7, Em7, Abo7, Eb7sus4, Db7#11, G7b9, Bbm7b5, C6/9, N.C.

    Whatever spelling came in (WJD ``Ebj7``, ``E-7``, ``D79b``), the name returned parses back
    to the same tones and bass; when no compact name does, the canonical one is kept.
    """
    if chord.root is None:
        return "N.C."
    name = chord_symbol_text(chord)
    compact = _compact(name)
    try:
        again = parse_chord(compact)
    except ChordParseError:
        return name
    same = set(again.pitch_classes) == set(chord.pitch_classes) and again.bass == chord.bass
    return compact if same else name


def _compact(name: str) -> str:
    """'Abdim7' -> 'Abo7', 'D7(b9)' -> 'D7b9', 'G7(9,13)' -> 'G13', 'C6(add9)' -> 'C6/9'."""
    body, slash, bass = name.partition("/")
    m = re.match(r"([A-G][b#]?)([^(]*)(?:\((.*)\))?$", body)
    if not m:
        return name
    root, quality, tensions = m.group(1), m.group(2), (m.group(3) or "").split(",")
    if "maj7" in tensions:  # Cm(maj7) stays as it is
        return name
    tensions = [t for t in tensions if t]
    quality = {"dim7": "o7", "dim": "o", "aug": "+", "7#5": "+7"}.get(quality, quality)
    if quality in ("6", "m6") and tensions == ["add9"]:
        return root + quality + "/9" + slash + bass
    # A natural 9 or 13 on a seventh chord names it (G7 9 13 -> G13, Cmaj7 9 -> Cmaj9).
    naturals = [t for t in ("13", "11", "9") if t in tensions]
    seventh = re.match(r"(maj|m|)7(sus4)?$", quality)
    if seventh and naturals and not (naturals[0] == "11" and quality != "m7"):
        top = naturals[0]
        tensions = [t for t in tensions if t not in ("9", "11", "13") or int(t) > int(top)]
        quality = seventh.group(1) + top + (seventh.group(2) or "")
    if any(t[0] not in "b#" for t in tensions):  # 'G7(9,11)': digits run together otherwise
        return root + quality + "(" + ",".join(tensions) + ")" + slash + bass
    return root + quality + "".join(tensions) + slash + bass
