"""A rhythm section that follows a chart: walking bass, drums on channel 10, piano comping.

Everything is in beats (quarter notes) from the chart's first bar, played straight; swing is a
performance warp applied when the file is written (`swing_beat`). One seed gives the same band.

- Bass: quarter notes (two-feel half notes in a ballad, a dotted-quarter + eighth figure in a
  bossa) in E1-G3; the root (or slash bass) where a chord starts, the root or fifth on every
  downbeat, chord and scale tones stepping towards the next chord, and a chromatic or scale
  approach into its root on the beat before it.
- Drums (GM channel 10): ride "ding, ding-a" with hi-hat on 2 and 4 and light snare/kick
  comping (swing, waltz), brushes for a ballad, cross-stick and eighth hi-hats for a bossa, a
  fill at the end of every chorus and a crash where the next begins.
- Piano: the root (or slash bass) under the chord's guide tones (third, seventh or sixth, an
  altered fifth) and up to two tensions, each voicing chosen near the one before, on
  Charleston, push and off-beat rhythms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jazzgen.music.charts import STYLES, Chart
from jazzgen.music.chords import Chord
from jazzgen.music.midi_io import MidiNote

BANDS = ("trio", "bass", "none")
BASS_RANGE = (28, 55)  # E1-G3, the double bass's sounding range in practice
PIANO_TOP = (60, 74)  # where the top voice of a comping voicing sits (under most solos)
DRUM_CHANNEL = 9
KICK, STICK, SNARE, HIHAT_PEDAL, HIHAT, CRASH, RIDE, TOM_LO, TOM_MID, TOM_HI = 36, 37, 38, 44, 42, 49, 51, 45, 47, 50


@dataclass(frozen=True)
class Part:
    """One instrument of the band: a named MIDI track on its own channel.

    Attributes:
        name: the track name ("chords" for the comping piano, "bass", "drums").
        program: General MIDI program (drums: the kit, 0 standard, 40 brushes).
        channel: MIDI channel 0..15 (9 is the drum channel, "channel 10").
        notes: (pitch, start_beat, duration_beats, velocity), sorted by start.
    """

    name: str
    program: int
    channel: int
    notes: tuple[MidiNote, ...]


def default_swing(tempo_qpm: float, style: str = "swing") -> float:
    """Long-short ratio of eighth pairs: about 1.6 at 160 bpm, straighter when fast, 1.0 for bossa."""
    if style == "bossa":
        return 1.0
    return float(np.clip(1.6 + (160.0 - tempo_qpm) / 200.0, 1.1, 2.0))


def swing_beat(beat: float, ratio: float) -> float:
    """Where a straight position is played: offbeat eighths (x.5) move to x + R/(1+R)."""
    whole = np.floor(beat + 1e-9)
    if ratio != 1.0 and abs(beat - whole - 0.5) < 1e-6:
        return float(whole + ratio / (1.0 + ratio))
    return beat


def swing_notes(notes, ratio: float) -> tuple[MidiNote, ...]:
    """Notes with their onsets and ends warped by `swing_beat` (a note never gets shorter than a tick)."""
    out = []
    for pitch, start, duration, velocity in notes:
        a, b = swing_beat(start, ratio), swing_beat(start + duration, ratio)
        out.append(MidiNote(pitch, a, max(b - a, 1 / 96), velocity))
    return tuple(out)


def accompany(chart: Chart, band: str = "trio", style: str = "swing", seed: int = 0) -> list[Part]:
    """The band's parts over `chart` (as played, looped already): none, bass, or piano+bass+drums.

    Args:
        chart: the bars to play; `chart.form_bars` marks where choruses end (drum fills).
        band: "trio", "bass" or "none".
        style: "swing", "ballad", "bossa" or "waltz".
        seed: the same seed gives the same parts.
    """
    if band not in BANDS:
        raise ValueError(f"band {band!r}: want one of {BANDS}")
    if style not in STYLES:
        raise ValueError(f"style {style!r}: want one of {STYLES}")
    if band == "none":
        return []
    rng = np.random.default_rng([seed, 17])
    parts = [Part("bass", 32, 2, walking_bass(chart, style, rng))]
    if band == "trio":
        parts.insert(0, Part("chords", 0, 1, comp_piano(chart, style, rng)))
        parts.append(Part("drums", 40 if style == "ballad" else 0, DRUM_CHANNEL, drums(chart, style, rng)))
    return parts


# -- bass ------------------------------------------------------------------------------------


def _beat_unit(ts: tuple[int, int]) -> float:
    """The counted beat in quarter notes: a dotted quarter in 6/8, 9/8, 12/8, else a quarter."""
    return 1.5 if ts[1] == 8 and ts[0] % 3 == 0 else 1.0


def _chord_at(chart_spans, beat: float):
    """The span sounding at `beat` (None in a gap)."""
    for span in chart_spans:
        if span.start_beat <= beat + 1e-9 < span.end_beat:
            return span
    return None


def _near(pc: int, target: float, low: int, high: int) -> int:
    """The pitch of class `pc` in [low, high] nearest `target`."""
    options = [p for p in range(low, high + 1) if p % 12 == pc % 12]
    return min(options, key=lambda p: (abs(p - target), p))


def walking_bass(chart: Chart, style: str, rng: np.random.Generator) -> tuple[MidiNote, ...]:
    """The bass line: see the module docstring for the rules it follows."""
    spans = chart.spans()
    low, high = BASS_RANGE
    notes: list[MidiNote] = []
    previous = 40.0
    for bar_start, bar in zip(chart.bar_starts(), chart.bars):
        unit = _beat_unit(bar.time_signature)
        if style == "ballad" and bar.beats >= 4:
            unit = 2.0  # two-feel: half notes
        beats = [bar_start + k * unit for k in range(int(round(bar.beats / unit)))]
        for k, beat in enumerate(beats):
            span = _chord_at(spans, beat)
            if span is None or span.chord.root is None:
                continue  # N.C.: the bass lays out
            chord = span.chord
            root = chord.bass if chord.bass is not None else chord.root
            nxt = _chord_at(spans, beat + unit)
            next_chord = nxt.chord if nxt is not None and nxt is not span else None
            if abs(beat - span.start_beat) < 1e-6:
                pc = root  # where a chord starts: its root (or slash bass)
            elif k == 0:
                pc = root if rng.random() < 0.6 else chord.root + 7  # downbeat of a held chord
            elif next_chord is not None and next_chord.root is not None:
                target = next_chord.bass if next_chord.bass is not None else next_chord.root
                pc = _approach(target, chord, rng)
            else:
                tones = [p for p in chord.pitch_classes[1:4]] or [root]
                pc = int(rng.choice(tones))
            pitch = _near(pc, previous, low, high)
            if style == "bossa":
                if k % 2 == 1:
                    continue  # the figure below covers two beats
                # Root (or fifth) a dotted quarter, then the fifth an eighth: the bossa figure.
                pc = root if abs(beat - span.start_beat) < 1e-6 or k == 0 else chord.root + 7
                pitch = _near(pc, previous, low, high)
                fifth = _near(chord.root + 7, pitch + 5, low, high)
                notes.append(MidiNote(pitch, beat, 1.45, 82))
                if beat + 1.5 < span.end_beat - 1e-6:
                    notes.append(MidiNote(fifth, beat + 1.5, 0.45, 72))
                previous = pitch
                continue
            velocity = 84 if k == 0 else 76
            notes.append(MidiNote(pitch, beat, unit * 0.92, int(velocity + rng.integers(-4, 5))))
            previous = pitch
    return tuple(notes)


def _approach(target: int, chord: Chord, rng: np.random.Generator) -> int:
    """The pitch class played on the beat before `target`: a semitone above/below or a scale step."""
    choice = rng.random()
    if choice < 0.45:
        return target - 1
    if choice < 0.75:
        return target + 1
    steps = [pc for pc in chord.scale if (target - pc) % 12 in (1, 2, 10, 11)]
    return int(rng.choice(steps)) if steps else target + 7  # else the dominant of the target


# -- piano -----------------------------------------------------------------------------------


def guide_tones(chord: Chord) -> list[int]:
    """Pitch classes a comping voicing keeps above the bass: 3rd (or sus), 7th/6th, altered 5th, 2 tensions."""
    root = chord.root
    intervals = {(pc - root) % 12 for pc in chord.pitch_classes}
    keep = [i for i in (4, 3, 5, 2) if i in intervals][:1]  # the third (a #9 is a tension), else the sus
    sevenths = [i for i in (10, 11) if i in intervals]
    sixth = 9 in intervals and (not sevenths or (3 in intervals and 6 in intervals))
    keep += sevenths[:1] + ([9] if sixth else [])
    has_seventh = bool(sevenths) or 9 in keep
    if 6 in intervals or 8 in intervals or (7 in intervals and (not sevenths or sixth)):
        keep += [i for i in (6, 8, 7) if i in intervals][:1]
    tensions = [i for i in (2, 1, 3, 6, 9, 8) if i in intervals and i not in keep and has_seventh]
    keep += tensions[:2]
    return [(root + i) % 12 for i in dict.fromkeys(keep)] or [root]


def _voicings(upper: list[int], top_range: tuple[int, int]) -> list[tuple[int, ...]]:
    """Close and spread placements of `upper` pitch classes whose top voice is in `top_range`."""
    out = []
    for rotation in range(len(upper)):
        order = upper[rotation:] + upper[:rotation]
        for base in range(top_range[0] - 14, top_range[1]):
            if base % 12 != order[0]:
                continue
            pitches = [base]
            for pc in order[1:]:
                nxt = pitches[-1] + 1
                while nxt % 12 != pc:
                    nxt += 1
                pitches.append(nxt)
            if top_range[0] <= pitches[-1] <= top_range[1]:
                out.append(tuple(pitches))
    return out


def voice(chord: Chord, previous: tuple[int, ...] | None) -> tuple[int, ...]:
    """A voicing of `chord`: its bass (root or slash) in 40-51 under guide tones near `previous`
    (and the root, for a slash chord)."""
    upper = guide_tones(chord)
    bass_pc = chord.bass if chord.bass is not None else chord.root
    if bass_pc != chord.root:  # a slash chord: the root sounds above the named bass
        upper = [chord.root] + [pc for pc in upper if pc not in (chord.root, bass_pc)]
    bass = 40 + (bass_pc - 40) % 12
    options = [v for v in _voicings(upper, PIANO_TOP) if v[0] > bass] or \
        [v for v in _voicings(upper, (PIANO_TOP[0], PIANO_TOP[1] + 12)) if v[0] > bass]
    if previous is None:
        best = min(options, key=lambda v: (abs(v[-1] - 67), v))
    else:
        last = previous[1:]

        def cost(v: tuple[int, ...]) -> tuple[float, tuple[int, ...]]:
            moves = sum(min(abs(p - q) for q in last) for p in v)
            return (2.0 * abs(v[-1] - last[-1]) + moves, v)

        best = min(options, key=cost)
    return (bass, *best)


# Comping rhythms for a 4-beat stretch: (onset, length) in beats; straight positions.
_SWING_COMPS = (((0, 1.5), (1.5, 2.3)), ((0, 0.5), (1.5, 0.5), (3.5, 0.5)), ((0, 2.3), (2.5, 1.3)),
                ((0, 1.0), (2.5, 0.5)), ((0.0, 0.7), (1.5, 1.3), (3.0, 0.7)))
_BOSSA_COMP = ((0, 1.4), (1.5, 1.0), (3.0, 0.9))
_WALTZ_COMP = ((0, 1.4), (1.5, 0.5))


def comp_piano(chart: Chart, style: str, rng: np.random.Generator) -> tuple[MidiNote, ...]:
    """Comping: every chord is struck where it starts (or pushed an eighth early), with
    syncopated re-strikes inside it; each voicing follows the previous one by small steps."""
    notes: list[MidiNote] = []
    previous: tuple[int, ...] | None = None
    spans = chart.spans()
    for i, span in enumerate(spans):
        if span.chord.root is None:
            continue  # N.C.: the piano lays out
        voicing = voice(span.chord, previous)
        previous = voicing
        hits = _comp_hits(span.duration_beats, style, rng)
        nxt = spans[i + 1] if i + 1 < len(spans) else None
        for onset, length in hits:
            start = span.start_beat + onset
            end = min(start + length, span.end_beat - 0.05)
            if nxt is not None and nxt.chord.root is not None and end > span.end_beat - 0.55 and style != "ballad":
                end = span.end_beat - 0.55  # leave room for a push into the next chord
            if end <= start + 0.1:
                continue
            accent = 8 if abs(onset % 1 - 0.5) < 1e-6 else 0
            for pitch in voicing:
                notes.append(MidiNote(pitch, start, end - start, int(54 + accent + rng.integers(-4, 5))))
    return tuple(sorted(notes, key=lambda n: (n.start_beat, n.pitch)))


def _comp_hits(length: float, style: str, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(onset, length) of the strikes over a chord lasting `length` beats; the first is at 0."""
    if style == "ballad":
        return [(0.0, length)]
    hits: list[tuple[float, float]] = []
    offset = 0.0
    while offset < length - 1e-9:
        chunk = min(4.0, length - offset)
        if style == "bossa":
            pattern = _BOSSA_COMP
        elif style == "waltz":
            pattern = _WALTZ_COMP
        else:
            pattern = _SWING_COMPS[int(rng.integers(len(_SWING_COMPS)))]
        hits += [(offset + a, b) for a, b in pattern if a < chunk - 0.25]
        offset += chunk
    if not hits or hits[0][0] > 0:
        hits.insert(0, (0.0, 1.0))
    # Sustain the first strike at least past the first half beat (the chord must sound there).
    hits[0] = (0.0, max(hits[0][1], 0.6))
    return hits


# -- drums -----------------------------------------------------------------------------------


def drums(chart: Chart, style: str, rng: np.random.Generator) -> tuple[MidiNote, ...]:
    """The drum part (GM percussion keys, channel 10); see the module docstring."""
    notes: list[MidiNote] = []
    chorus_starts = set(chart.chorus_starts())
    n_bars = len(chart.bars)
    for index, (bar_start, bar) in enumerate(zip(chart.bar_starts(), chart.bars)):
        beats = int(round(bar.beats / _beat_unit(bar.time_signature)))
        unit = _beat_unit(bar.time_signature)
        fill = (index + 1) in chorus_starts or index == n_bars - 1
        if index in chorus_starts and index > 0:
            notes.append(MidiNote(CRASH, bar_start, 1.0, 88))
        for k in range(beats):
            t = bar_start + k * unit
            if fill and k >= beats - 2 and style != "ballad":
                notes += _fill_beat(t, unit, rng)
                continue
            notes += _groove_beat(t, k, beats, unit, style, rng)
    return tuple(sorted(notes, key=lambda n: (n.start_beat, n.pitch)))


def _groove_beat(t: float, k: int, beats: int, unit: float, style: str, rng) -> list[MidiNote]:
    """One counted beat of the groove."""
    out = []
    jitter = int(rng.integers(-3, 4))
    backbeat = k % 2 == 1
    if style == "bossa":
        out.append(MidiNote(HIHAT, t, 0.25, 58 + jitter))
        out.append(MidiNote(HIHAT, t + 0.5, 0.25, 46 + jitter))
        out.append(MidiNote(KICK, t, 0.4, 64 if k % 2 == 0 else 50))
        stick = {0: 0.0, 1: 0.5, 3: 0.0}.get(k % 4)  # cross-stick on 1, the and of 2, and 4
        if stick is not None:
            out.append(MidiNote(STICK, t + stick, 0.25, 62))
        return out
    if style == "ballad":  # brushes: a soft stroke every beat, the hi-hat foot on 2 and 4
        out.append(MidiNote(SNARE, t, 0.5 * unit, 34 + jitter))
        if backbeat:
            out.append(MidiNote(HIHAT_PEDAL, t, 0.25, 48))
        return out
    out.append(MidiNote(RIDE, t, 0.5, 66 + (6 if k == 0 else 0) + jitter))
    if (style == "waltz" and k == 1) or (style != "waltz" and backbeat):
        out.append(MidiNote(RIDE, t + 0.5, 0.4, 52 + jitter))  # the skip note, swung on writing
    if (style == "waltz" and k in (1, 2)) or (style != "waltz" and backbeat):
        out.append(MidiNote(HIHAT_PEDAL, t, 0.25, 58))
    if rng.random() < 0.18:  # light comping on an offbeat
        out.append(MidiNote(SNARE, t + 0.5, 0.25, int(34 + rng.integers(0, 14))))
    out.append(MidiNote(KICK, t, 0.25, 30))  # feathered bass drum
    return out


def _fill_beat(t: float, unit: float, rng) -> list[MidiNote]:
    """A beat of a fill: triplets down the snare and toms."""
    voices = (SNARE, TOM_HI, TOM_MID, TOM_LO)
    out = []
    for j in range(3):
        drum = voices[int(rng.integers(len(voices)))]
        out.append(MidiNote(drum, t + j * unit / 3, unit / 3, int(62 + 8 * j + rng.integers(-4, 5))))
    return out
