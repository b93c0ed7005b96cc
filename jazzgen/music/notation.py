"""A lead sheet of a performance: MusicXML written directly (no music21 at run time), and engraving.

The solo is first given clean rhythms (`notation_notes`): in each beat, onsets and ends snap to
sixteenths or to eighth triplets, whichever fits that beat's notes better, so no fragment of a
twelfth of a beat is left. Each bar is then written as notes and rests split at beat lines (a
note on a beat that lasts whole beats stays one note), tied across beats and bar lines; beats in
triplets get tuplet brackets. Chord symbols (lead-sheet spelling) stand above the staff, the
title, key, meter and tempo at the top, a rehearsal mark at every chorus, and each meter change
where it happens. `engrave` (in `engraving`) turns the file into PDF or SVG with MuseScore,
LilyPond or verovio.
"""

from __future__ import annotations

from fractions import Fraction
from xml.sax.saxutils import escape

from jazzgen.errors import JazzgenError
from jazzgen.music.charts import spell
from jazzgen.music.chords import Chord
from jazzgen.music.engraving import INSTALL_HINT, engrave, engravers  # noqa: F401  (re-exported)

DIVISIONS = 48  # per quarter note: every position on the 1/48-beat grid bar lines can fall on is whole
STRAIGHT, TRIPLET = (Fraction(0), Fraction(1, 4), Fraction(1, 2), Fraction(3, 4)), \
    (Fraction(0), Fraction(1, 3), Fraction(2, 3))
SEXTUPLET = tuple(Fraction(k, 6) for k in range(6))  # sixteenth triplets: players' fast runs
GRIDS = (STRAIGHT, TRIPLET, SEXTUPLET)  # simplest first: a finer grid must move the notes less
_TYPES = {Fraction(1, 16): ("64th", 0), Fraction(1, 8): ("32nd", 0), Fraction(1, 4): ("16th", 0),
          Fraction(1, 2): ("eighth", 0), Fraction(3, 4): ("eighth", 1),
          Fraction(1): ("quarter", 0), Fraction(3, 2): ("quarter", 1), Fraction(2): ("half", 0),
          Fraction(3): ("half", 1), Fraction(4): ("whole", 0), Fraction(6): ("whole", 1)}
_TRIPLET_TYPES = {Fraction(1, 3): "eighth", Fraction(2, 3): "quarter", Fraction(1, 6): "16th",
                  Fraction(1, 12): "32nd", Fraction(1, 24): "64th", Fraction(1, 48): "128th"}
# Every written length, longest first: odd meters (13/16) and chord changes inside a triplet beat
# leave lengths such as 5/12 that no single note type writes; they become sums of these.
_WRITTEN = sorted(set(_TYPES) | set(_TRIPLET_TYPES), reverse=True)
_STEPS_SHARP = ("C", 0), ("C", 1), ("D", 0), ("D", 1), ("E", 0), ("F", 0), ("F", 1), ("G", 0), ("G", 1), \
    ("A", 0), ("A", 1), ("B", 0)
_STEPS_FLAT = ("C", 0), ("D", -1), ("D", 0), ("E", -1), ("E", 0), ("F", 0), ("G", -1), ("G", 0), ("A", -1), \
    ("A", 0), ("B", -1), ("B", 0)
_FIFTHS = {"C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F#": 6, "Gb": -6, "Db": -5, "C#": 7, "Ab": -4,
           "Eb": -3, "Bb": -2, "F": -1, "Cb": -7}


def _frac(beat: float) -> Fraction:
    return Fraction(beat).limit_denominator(48)


def notation_notes(notes, bar_starts: list[float], total_beats: float) -> list[tuple[Fraction, Fraction, int]]:
    """The solo with notatable rhythms: (start, end, pitch) in beats, each beat on one grid.

    A lead sheet does not write how short a player cuts a note: a note followed by a gap of at
    most half a beat, and no longer than the note itself, is written up to the next onset. Then
    in every beat the onsets and ends that fall inside it snap to the sixteenth, eighth-triplet or
    sixteenth-triplet grid, whichever moves them less (ties: the simpler grid). Notes that collapse to
    nothing are dropped; a note never runs into the next.
    """
    notes = list(notes)
    ends = []
    for k, n in enumerate(notes):
        end = n.start_beat + n.duration_beats
        if k + 1 < len(notes):
            gap = notes[k + 1].start_beat - end
            if 0 < gap <= min(0.5, n.duration_beats) + 1e-9:
                end = notes[k + 1].start_beat
        ends.append(end)
    # Floats for the search (Fractions are slow), exact Fractions for what is returned.
    points: dict[int, list[float]] = {}
    for n, e in zip(notes, ends):
        for t in (n.start_beat, e):
            beat = int(t + 1e-9)
            if t - beat > 1e-9:
                points.setdefault(beat, []).append(t - beat)
    floats = {grid: [float(g) for g in grid] + [1.0] for grid in GRIDS}
    grids = {}
    for beat, offsets in points.items():
        best, best_cost = STRAIGHT, float("inf")
        for grid in GRIDS:
            cost = sum(min(abs(o - g) for g in floats[grid]) for o in offsets)
            if cost < best_cost - 1e-9:
                best, best_cost = grid, cost
        grids[beat] = best

    def snap(t: float) -> Fraction:
        beat = int(t + 1e-9)
        grid = grids.get(beat, STRAIGHT) + (Fraction(1),)
        return beat + min(grid, key=lambda g: (abs(t - beat - float(g)), g))

    end_all = _frac(total_beats)
    out: list[tuple[Fraction, Fraction, int]] = []
    for n, e in zip(notes, ends):
        start = snap(n.start_beat)
        end = min(snap(e), end_all)
        if out and start < out[-1][1]:
            if start <= out[-1][0]:
                continue
            out[-1] = (out[-1][0], start, out[-1][2])
        if end > start:
            out.append((start, end, n.pitch))
    return out


def _pieces(a: Fraction, b: Fraction, bar_end: Fraction) -> list[Fraction]:
    """Split [a, b) into written lengths: at beat lines, whole beats from a beat kept together."""
    cuts = []
    t = a
    while t < b:
        nxt = min(Fraction(int(t) + 1), b)
        if t.denominator == 1:
            whole = int(b - t)  # whole beats from here, as few notes as possible
            if whole >= 1:
                length = max(k for k in (4, 3, 2, 1) if k <= whole and Fraction(k) in _TYPES)
                nxt = t + length
        cuts += _written_lengths(nxt - t)
        t = nxt
    return cuts


def _written_lengths(length: Fraction) -> list[Fraction]:
    """`length` as note values a lead sheet can write, longest first, on the coarsest grid it sits on.

    5/6 of a beat is 2/3 + 1/6 (sixteenth triplets), not 3/4 + 1/12: staying on one grid keeps
    the pieces readable.
    """
    if length in _TYPES or length in _TRIPLET_TYPES:
        return [length]
    den = next((d for d in (4, 6, 12, 16, 24, 48) if (length * d).denominator == 1), None)
    if den is None:
        raise JazzgenError(f"cannot write a note of {length} beats in a lead sheet (finer than 1/48 beat)")
    steps = [w for w in _WRITTEN if (w * den).denominator == 1]
    out = []
    while length > 0:
        step = next(w for w in steps if w <= length)  # 1/den itself is always a step
        out.append(step)
        length -= step
    return out


class _Writer:
    """Builds the XML of one part, measure by measure."""

    def __init__(self, flats: bool):
        self.lines: list[str] = []
        self.steps = _STEPS_FLAT if flats else _STEPS_SHARP

    def note(self, start: Fraction, length: Fraction, pitch: int | None, tie_in: bool, tie_out: bool,
             triplet: str | None, beams: tuple[str, ...] = ()) -> None:
        # Lengths only a tuplet can write (1/3, 1/6 ...) carry the 3:2 ratio even outside a bracket.
        triple = length in _TRIPLET_TYPES and (triplet is not None or length not in _TYPES)
        kind, dots = (_TRIPLET_TYPES[length], 0) if triple else _TYPES[length]
        out = ["<note>"]
        if pitch is None:
            out.append("<rest/>")
        else:
            step, alter = self.steps[pitch % 12]
            out.append(f"<pitch><step>{step}</step>{f'<alter>{alter}</alter>' if alter else ''}"
                       f"<octave>{pitch // 12 - 1}</octave></pitch>")
        out.append(f"<duration>{int(length * DIVISIONS)}</duration>")
        if tie_in:
            out.append('<tie type="stop"/>')
        if tie_out:
            out.append('<tie type="start"/>')
        out.append(f"<type>{kind}</type>" + "<dot/>" * dots)
        if triple:
            out.append("<time-modification><actual-notes>3</actual-notes><normal-notes>2</normal-notes>"
                       "</time-modification>")
        out += [f'<beam number="{k + 1}">{b}</beam>' for k, b in enumerate(beams)]
        notations = [f'<tied type="{t}"/>' for t, on in (("stop", tie_in), ("start", tie_out)) if on]
        if triple and triplet in ("start", "stop", "both"):
            kinds = ("start", "stop") if triplet == "both" else (triplet,)
            notations += [f'<tuplet type="{k}" bracket="yes"/>' for k in kinds]
        if notations:
            out.append("<notations>" + "".join(notations) + "</notations>")
        out.append("</note>")
        self.lines.append("".join(out))


def harmony_xml(chord: Chord, flats: bool = True) -> str:
    """A <harmony> element: root, kind (with the lead-sheet text), added degrees, slash bass."""
    if chord.root is None:
        return '<harmony><root><root-step>C</root-step></root><kind text="N.C.">none</kind></harmony>'
    steps = _STEPS_FLAT if flats else _STEPS_SHARP
    name = spell(chord)
    root_name = name[:2] if len(name) > 1 and name[1] in "b#" else name[:1]
    # The slash bass counts too: in C/E it is the third, in C/D an added ninth.
    intervals = {(pc - chord.root) % 12 for pc in chord.pitch_classes}
    kind, covered = _kind(intervals)
    degrees = []
    for i in sorted(intervals - covered):
        value, alter = {1: (9, -1), 2: (9, 0), 3: (9, 1), 5: (11, 0), 6: (11, 1), 8: (13, -1), 9: (13, 0),
                        4: (3, 0), 7: (5, 0), 10: (7, 0), 11: (7, 1)}[i]
        degrees.append(f"<degree><degree-value>{value}</degree-value><degree-alter>{alter}</degree-alter>"
                       "<degree-type>add</degree-type></degree>")
    step, alter = steps[chord.root]
    xml = (f"<harmony><root><root-step>{step}</root-step>{f'<root-alter>{alter}</root-alter>' if alter else ''}"
           f'</root><kind text="{escape(name[len(root_name):].split("/")[0], {chr(34): "&quot;"})}">{kind}</kind>')
    if chord.bass is not None and chord.bass != chord.root:
        bstep, balter = steps[chord.bass]
        xml += f"<bass><bass-step>{bstep}</bass-step>{f'<bass-alter>{balter}</bass-alter>' if balter else ''}</bass>"
    return xml + "".join(degrees) + "</harmony>"


def _kind(intervals: set[int]) -> tuple[str, set[int]]:
    """The MusicXML kind that names most of the chord, and the intervals it covers."""
    kinds = [("diminished-seventh", {0, 3, 6, 9}), ("half-diminished", {0, 3, 6, 10}),
             ("augmented-seventh", {0, 4, 8, 10}), ("major-minor", {0, 3, 7, 11}),
             ("major-seventh", {0, 4, 7, 11}), ("minor-seventh", {0, 3, 7, 10}), ("dominant", {0, 4, 7, 10}),
             ("major-sixth", {0, 4, 7, 9}), ("minor-sixth", {0, 3, 7, 9}), ("suspended-fourth", {0, 5, 7}),
             ("suspended-second", {0, 2, 7}), ("augmented", {0, 4, 8}), ("diminished", {0, 3, 6}),
             ("minor", {0, 3, 7}), ("major", {0, 4, 7})]
    for kind, tones in kinds:
        # With a major third, a minor third is a #9 (C7alt is dominant, not half-diminished);
        # with any third, a second or fourth is a tension (C/D is C add9, not Csus2).
        sus_with_third = kind.startswith("suspended") and bool({3, 4} & intervals)
        if tones <= intervals and not (4 in intervals and 3 in tones) and not sus_with_third:
            return kind, tones
    for kind, tones in (("dominant", {0, 4, 10}), ("minor-seventh", {0, 3, 10}), ("major-seventh", {0, 4, 11}),
                        ("dominant", {0, 5, 10}), ("minor", {0, 3}), ("major", {0, 4})):
        if tones <= intervals:  # no fifth (C7alt, shells): the kind, its fifth left out
            return kind, tones | {7}
    return "major", {0}


def key_fifths(key: str) -> tuple[int, str]:
    """('Bb' -> (-2, 'major'), 'Cm' -> (-3, 'minor')); unknown keys are C major."""
    key = key.strip()
    minor = key.endswith(("m", "min", "minor", "-"))
    tonic = key[:2] if len(key) > 1 and key[1] in "b#" else key[:1]
    tonic = tonic[:1].upper() + tonic[1:]
    if minor:
        relative = {"A": "C", "E": "G", "B": "D", "F#": "A", "C#": "E", "G#": "B", "D": "F", "G": "Bb",
                    "C": "Eb", "F": "Ab", "Bb": "Db", "Eb": "Gb", "Ab": "Cb", "D#": "F#"}.get(tonic, "C")
        return _FIFTHS.get(relative, 0), "minor"
    return _FIFTHS.get(tonic, 0), "major"


def lead_sheet_xml(performance) -> str:
    """The performance as a MusicXML 4.0 partwise score (one part: the solo with chord symbols)."""
    from jazzgen.music.tunes import estimate_key

    chart, solo = performance.chart, performance.solo
    key = chart.key or estimate_key(chart)
    fifths, mode = key_fifths(key)
    flats = fifths <= 0
    starts = [_frac(b) for b in chart.bar_starts()] + [_frac(chart.total_beats)]
    notes = notation_notes(solo.notes, chart.bar_starts(), chart.total_beats)
    triplet_beats = {int(t) for s, e, _ in notes for t in (s, e) if t.denominator in (3, 6)}
    chord_at = {_frac(s.start_beat): s.chord for s in solo.chords}
    choruses = set(chart.chorus_starts())
    clef = _clef(performance.instrument)
    body, meter = [], None
    for index, bar in enumerate(chart.bars):
        lo, hi = starts[index], starts[index + 1]
        w = _Writer(flats)
        attrs = []
        if index == 0:
            attrs.append(f"<divisions>{DIVISIONS}</divisions><key><fifths>{fifths}</fifths><mode>{mode}</mode></key>")
        if bar.time_signature != meter:
            attrs.append(f"<time><beats>{bar.time_signature[0]}</beats><beat-type>{bar.time_signature[1]}</beat-type></time>")
            meter = bar.time_signature
        if index == 0:
            attrs.append(clef)
        if attrs:
            w.lines.append("<attributes>" + "".join(attrs) + "</attributes>")
        if index == 0:
            w.lines.append(f'<direction placement="above"><direction-type><metronome><beat-unit>quarter</beat-unit>'
                           f'<per-minute>{performance.tempo_qpm:g}</per-minute></metronome></direction-type>'
                           f'<sound tempo="{performance.tempo_qpm:g}"/></direction>')
        if index in choruses and len(choruses) > 1:
            w.lines.append(f'<direction placement="above"><direction-type><rehearsal>Chorus '
                           f'{sorted(choruses).index(index) + 1}</rehearsal></direction-type></direction>')
        _write_bar(w, lo, hi, [n for n in notes if n[0] < hi and n[1] > lo], chord_at, triplet_beats, flats)
        body.append(f'<measure number="{index + 1}">' + "".join(w.lines) + "</measure>")
    inst = performance.instrument
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
            '"http://www.musicxml.org/dtds/partwise.dtd">\n<score-partwise version="4.0">'
            f"<work><work-title>{escape(performance.title)}</work-title></work>"
            "<identification><encoding><software>jazzgen</software></encoding></identification>"
            f'<part-list><score-part id="P1"><part-name>{escape(inst.name.title())}</part-name>'
            f'<score-instrument id="P1-I1"><instrument-name>{escape(inst.name)}</instrument-name></score-instrument>'
            f'<midi-instrument id="P1-I1"><midi-channel>1</midi-channel><midi-program>{inst.program + 1}'
            '</midi-program></midi-instrument></score-part></part-list>'
            '<part id="P1">' + "\n".join(body) + "</part></score-partwise>\n")


def _clef(instrument) -> str:
    """Bass clef for low horns, treble an octave down for tenor sax and guitar (concert pitch)."""
    if instrument.high <= 70:
        return "<clef><sign>F</sign><line>4</line></clef>"
    if instrument.low < 50:
        return "<clef><sign>G</sign><line>2</line><clef-octave-change>-1</clef-octave-change></clef>"
    return "<clef><sign>G</sign><line>2</line></clef>"


def _write_bar(w: _Writer, lo: Fraction, hi: Fraction, notes, chord_at: dict, triplet_beats: set, flats: bool) -> None:
    """Notes and rests filling [lo, hi); chord symbols where chords start; splits at chord changes."""
    changes = sorted(t for t in chord_at if lo <= t < hi)
    events = []  # (start, end, pitch or None, tied in from before, tied out after)
    t = lo
    for start, end, pitch in notes:
        a, b = max(start, lo), min(end, hi)
        if a > t:
            events.append((t, a, None, False, False))
        events.append((a, b, pitch, start < lo, end > hi))
        t = b
    if t < hi:
        events.append((t, hi, None, False, False))
    pieces = []
    for a, b, pitch, tie_in, tie_out in events:
        cuts = sorted({a, b} | {c for c in changes if a < c < b})
        for k, (x, y) in enumerate(zip(cuts, cuts[1:])):
            lengths = _pieces(x - lo, y - lo, hi - lo)
            pos = x
            for j, length in enumerate(lengths):
                first, last = k == 0 and j == 0, k == len(cuts) - 2 and j == len(lengths) - 1
                pieces.append((pos, length, pitch, (tie_in or not first) and pitch is not None,
                               (tie_out or not last) and pitch is not None))
                pos += length
    for i, (pos, length, pitch, tie_in, tie_out) in enumerate(pieces):
        if pos in chord_at:
            w.lines.append(harmony_xml(chord_at[pos], flats))
        triplet = None
        if length in _TRIPLET_TYPES and int(pos) in triplet_beats:
            before = i > 0 and int(pieces[i - 1][0]) == int(pos) and pieces[i - 1][1] in _TRIPLET_TYPES
            after = i + 1 < len(pieces) and int(pieces[i + 1][0]) == int(pos) and pieces[i + 1][1] in _TRIPLET_TYPES
            triplet = "both" if not before and not after else "start" if not before else "stop" if not after else "mid"
        w.note(pos, length, pitch, tie_in, tie_out, triplet, _beams(pieces, i))


def _flagged(piece) -> int:
    """Beams a written piece needs: 1 for eighths (and triplet eighths), 2 for sixteenths, 0 else."""
    pos, length, pitch = piece[:3]
    if pitch is None:
        return 0
    return {Fraction(1, 2): 1, Fraction(3, 4): 1, Fraction(1, 3): 1, Fraction(1, 4): 2}.get(length, 0)


def _beams(pieces: list, i: int) -> tuple[str, ...]:
    """MusicXML beam values of piece i: notes with flags inside one beat are beamed together."""
    level = _flagged(pieces[i])
    if not level:
        return ()
    beat = int(pieces[i][0])

    def same(j: int) -> int:
        return _flagged(pieces[j]) if 0 <= j < len(pieces) and int(pieces[j][0]) == beat else 0

    before, after = same(i - 1), same(i + 1)
    if not before and not after:
        return ()
    values = ["continue" if before and after else "begin" if after else "end"]
    if level == 2:
        values.append("continue" if before == 2 and after == 2 else "begin" if after == 2 else
                      "end" if before == 2 else "forward hook" if not before else "backward hook")
    return tuple(values)
