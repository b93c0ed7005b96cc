"""Turn the tracks of a MIDI file into a `Score`: find the melody, then the chords under it.

Works for jazzgen's own two-track files (a `melody` track, a `chords` track with chord-symbol
markers) and for other people's band arrangements, where the melody has to be guessed: a named
track wins, else the most monophonic, busiest, highest-sounding pitched track. Chords come from
chord-symbol markers when the file has them, else from the pitch classes sounding in the other
tracks, beat by beat, else (a melody alone) one triad or seventh per bar is inferred from the
melody's own notes. `score.meta` says which track and chord source were used and why.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import replace

from jazzgen.errors import ChordParseError, InputError
from jazzgen.music.chords import Chord, parse_chord, recognize_chord
from jazzgen.music.midi_io import MidiContent, MidiTrack
from jazzgen.music.score import ChordSpan, Note, Score

MELODY_NAMES = ("melody", "solo", "lead")  # a track named like this is the melody
MELODIC_HINTS = ("sax", "trumpet", "tpt", "clarinet", "flute", "trombone", "horn", "vocal",
                 "voice", "violin", "tenor", "alto", "soprano", "theme", "tune")  # fmt: skip
ACCOMPANIMENT_HINTS = ("bass", "chord", "comp", "piano", "pno", "keys", "guitar", "gtr", "pad",
                       "string", "organ", "rhythm", "harm", "accomp", "drum")  # fmt: skip
MIN_MONOPHONY = 0.2  # below this share of lone onsets a track is chords, not a line
# Chords inferred from a melody alone: plain triads and sevenths (a line rarely shows more).
MELODY_CHORD_TEMPLATES = ("", "m", "7", "maj7", "m7", "m7b5", "dim7", "dim", "aug")
SECTION_MARK_BEATS = 16.0  # bare-letter markers this far apart (on average) are section marks
SOUNDING_BASS_BEATS = 0.25  # a note must sound this long in a beat to count as its bass


def score_from_midi(
    content: MidiContent, path: str | os.PathLike, melody_track: str | int | None = None
) -> Score:
    """Build a score from a read MIDI file: the melody track made monophonic, over its chords.

    Args:
        content: what `read_midi` returned for the file.
        path: the file, for messages and `score.source`.
        melody_track: the user's choice of melody track, by name (case-insensitive) or by
            index in `content.tracks`; None picks one (see the module docstring).

    Returns:
        A score whose meta records "melody_track", "melody_reason", "chord_source"
        ("markers", "notes:<track names>", "inferred from melody" or "none") and "bars".

    Raises:
        InputError: "no notes" when nothing sounds, "drums only" when only drum tracks have
            notes, "no melody found" when no track can serve as the melody.
    """
    sounding = [t for t in content.tracks if t.notes]
    if not sounding:
        raise InputError(path, "no notes")
    pitched = [t for t in sounding if not t.is_drum]
    if not pitched:
        raise InputError(path, "drums only")
    melody, reason = _pick_melody(pitched, melody_track, path)
    notes = make_monophonic(
        Note(n.pitch, n.start_beat, n.duration_beats, n.velocity) for n in melody.notes
    )
    if not notes:
        raise InputError(path, "no melody found", f"track {melody.name!r} has no notes")

    time_signature = _time_signature(content)
    chords, chord_source = _chords_from_markers(content)
    if _section_letters(chords):  # rehearsal marks "A", "B", "A" are not chords
        chords, chord_source = (), "none"
    if not chords:
        others = [t for t in pitched if t.index != melody.index]
        chords = chords_from_notes(others)
        names = ",".join(t.name or str(t.index) for t in others)
        chord_source = f"notes:{names}" if chords else "none"
    if not chords:  # a melody alone: guess the harmony from it, and say so
        chords = chords_from_melody(notes, time_signature[0] * 4.0 / time_signature[1])
        chord_source = "inferred from melody" if chords else "none"
    tempo_qpm, tempo_changes = _tempos(content)
    score = Score(
        notes=notes,
        chords=chords,
        time_signature=time_signature,
        tempo_qpm=tempo_qpm,
        tempo_changes=tempo_changes,
        source=str(path),
    )
    score.meta.update(
        melody_track=melody.name or str(melody.index),
        melody_index=melody.index,
        melody_reason=reason,
        chord_source=chord_source,
        bars=math.ceil(score.end_beat / score.beats_per_bar - 1e-9),
    )
    return score


def make_monophonic(notes: Iterable[Note]) -> tuple[Note, ...]:
    """Keep the highest of notes that start together and cut each note off at the next onset."""
    by_onset: dict[float, Note] = {}
    for note in notes:
        kept = by_onset.get(note.start_beat)
        if kept is None or note.pitch > kept.pitch:
            by_onset[note.start_beat] = note
    ordered = [by_onset[onset] for onset in sorted(by_onset)]
    if not ordered:
        return ()
    result = []
    for note, following in zip(ordered, ordered[1:] + [None], strict=True):
        if following is not None and note.end_beat > following.start_beat:
            note = replace(note, duration_beats=following.start_beat - note.start_beat)
        result.append(note)
    return tuple(result)


def chords_from_notes(tracks: list[MidiTrack]) -> tuple[ChordSpan, ...]:
    """Recognise one chord per beat from the sounding notes; merge repeats into spans.

    A beat's weights are how long each pitch class sounds within it; its bass is the lowest
    pitch sounding at least `SOUNDING_BASS_BEATS` (or the longest-sounding pitch's length).
    """
    weights: dict[int, list[float]] = {}  # beat -> 12 weights
    overlaps: dict[int, dict[int, float]] = {}  # beat -> pitch -> beats sounding
    for track in tracks:
        for note in track.notes:
            end = note.start_beat + note.duration_beats
            for beat in range(int(note.start_beat), math.ceil(end)):
                overlap = min(end, beat + 1) - max(note.start_beat, beat)
                if overlap <= 0:
                    continue
                weights.setdefault(beat, [0.0] * 12)[note.pitch % 12] += overlap
                by_pitch = overlaps.setdefault(beat, {})
                by_pitch[note.pitch] = by_pitch.get(note.pitch, 0.0) + overlap
    spans: list[ChordSpan] = []
    for beat in sorted(weights):
        by_pitch = overlaps[beat]
        enough = min(SOUNDING_BASS_BEATS, max(by_pitch.values()))
        bass = min(p for p, length in by_pitch.items() if length >= enough)
        chord = recognize_chord(weights[beat], bass % 12)
        if chord is None:
            continue
        last = spans[-1] if spans else None
        if last is not None and last.chord == chord and abs(last.end_beat - beat) < 1e-9:
            spans[-1] = ChordSpan(chord, last.start_beat, last.duration_beats + 1)
        else:
            spans.append(ChordSpan(chord, float(beat), 1.0))
    return tuple(spans)


def chords_from_melody(notes: Iterable[Note], beats_per_bar: float) -> tuple[ChordSpan, ...]:
    """Infer one plausible chord per bar from the melody alone (files with no harmony at all).

    A bar's weights are how long each pitch class sounds in it; the chord is the best triad or
    seventh (`MELODY_CHORD_TEMPLATES`) for them. A bar without notes keeps the chord before it;
    equal neighbours merge into one span. It is a guess, and `score.meta["chord_source"]`
    says so ("inferred from melody").
    """
    weights: dict[int, list[float]] = {}  # bar -> 12 weights
    last_end = 0.0
    for note in notes:
        last_end = max(last_end, note.end_beat)
        first, last = int(note.start_beat // beats_per_bar), int(note.end_beat // beats_per_bar)
        for bar in range(first, last + 1):
            start, end = bar * beats_per_bar, (bar + 1) * beats_per_bar
            overlap = min(note.end_beat, end) - max(note.start_beat, start)
            if overlap > 1e-9:
                weights.setdefault(bar, [0.0] * 12)[note.pitch % 12] += overlap
    spans: list[ChordSpan] = []
    n_bars = math.ceil(last_end / beats_per_bar - 1e-9)
    for bar in range(min(weights, default=0), n_bars):
        chord = recognize_chord(weights[bar], templates=MELODY_CHORD_TEMPLATES) if bar in weights else None
        start = bar * beats_per_bar
        if spans and (chord is None or chord == spans[-1].chord):  # hold the chord on
            spans[-1] = ChordSpan(spans[-1].chord, spans[-1].start_beat, start + beats_per_bar - spans[-1].start_beat)
        elif chord is not None:
            spans.append(ChordSpan(chord, start, beats_per_bar))
    return tuple(spans)


def _pick_melody(
    pitched: list[MidiTrack], choice: str | int | None, path: str | os.PathLike
) -> tuple[MidiTrack, str]:
    """The melody track and why it was chosen."""
    if choice is not None:
        for track in pitched:
            if choice == track.index or str(choice).strip().lower() == track.name.lower():
                return track, "chosen by the user"
        names = ", ".join(f"#{t.index} {t.name!r}" for t in pitched)
        raise InputError(path, "no melody found", f"no pitched track {choice!r} among {names}")
    named = [t for t in pitched if any(word in t.name.lower() for word in MELODY_NAMES)]
    if named:
        best = max(named, key=_melody_score)
        return best, f"named {best.name!r}"
    best = max(pitched, key=_melody_score)
    monophony = _monophony(best)
    if monophony < MIN_MONOPHONY:
        raise InputError(path, "no melody found", f"no line: best track {monophony:.0%} monophonic")
    return best, (
        f"best of {len(pitched)} pitched tracks: {monophony:.0%} monophonic, "
        f"{len(best.notes)} notes, mean pitch {_mean_pitch(best):.0f}"
    )


def _melody_score(track: MidiTrack) -> float:
    """How much a track looks like a melody: monophony first, then register, size and name."""
    register = max(0.0, 1 - abs(_mean_pitch(track) - 70) / 24)  # jazz lines sit around 60-80
    size = min(1.0, math.log1p(len(track.notes)) / math.log1p(200))
    name = track.name.lower()
    hint = any(w in name for w in MELODIC_HINTS) - any(w in name for w in ACCOMPANIMENT_HINTS)
    # General MIDI families: brass, reeds, pipes and synth leads play lines; basses and pads don't.
    hint += (56 <= track.program < 88) - (32 <= track.program < 40 or 88 <= track.program < 96)
    return 3 * _monophony(track) + register + size + 0.75 * hint


def _monophony(track: MidiTrack) -> float:
    """Share of onsets where exactly one note starts and nothing else is sounding."""
    onsets: dict[float, int] = {}
    for note in track.notes:
        onsets[note.start_beat] = onsets.get(note.start_beat, 0) + 1
    lone, sounding_until = 0, -math.inf
    for note in track.notes:  # sorted by onset
        if onsets[note.start_beat] == 1 and note.start_beat >= sounding_until - 1e-6:
            lone += 1
        sounding_until = max(sounding_until, note.start_beat + note.duration_beats)
    return lone / len(onsets)


def _mean_pitch(track: MidiTrack) -> float:
    return sum(n.pitch for n in track.notes) / len(track.notes)


def _chords_from_markers(content: MidiContent) -> tuple[tuple[ChordSpan, ...], str]:
    """Chord spans from the track whose marker/text events parse best as chord symbols."""
    best: list[tuple[float, Chord]] = []
    best_end = 0.0
    for track in content.tracks:
        parsed: dict[float, Chord] = {}
        for beat, text in track.texts:
            if not text:
                continue  # parse_chord reads empty text as N.C.; an empty event says nothing
            try:
                parsed[beat] = parse_chord(text)  # a later symbol at the same beat wins
            except ChordParseError:
                continue  # lyrics, rehearsal marks, titles: not chords
        if len(parsed) > len(best):
            best, best_end = sorted(parsed.items(), key=lambda item: item[0]), track.end_beat
    if not best:
        return (), "none"
    last_beat = best[-1][0]
    end = best_end if best_end > last_beat else max(content.length_beats, last_beat + 1)
    bounds = [beat for beat, _ in best[1:]] + [end]
    spans = tuple(
        ChordSpan(chord, beat, stop - beat)
        for (beat, chord), stop in zip(best, bounds, strict=True)
    )
    return spans, "markers"


def _section_letters(spans: tuple[ChordSpan, ...]) -> bool:
    """Markers that are bare letters ("A", "B", "A") a long way apart are rehearsal marks.

    A bare letter is also a major triad, but a chord track that holds only major triads for
    `SECTION_MARK_BEATS` or more each on average is far less likely than a section-marker track.
    """
    if not spans or any(not re.fullmatch(r"[A-G]", s.chord.symbol.strip()) for s in spans):
        return False
    lengths = [s.duration_beats for s in spans[:-1]] or [spans[-1].duration_beats]  # the last is cut
    return sum(lengths) / len(lengths) >= SECTION_MARK_BEATS


def _time_signature(content: MidiContent) -> tuple[int, int]:
    """The first time signature, or 4/4 when there is none or it is not one a Score takes."""
    for _, num, den in content.time_signatures[:1]:
        if num > 0 and den in (1, 2, 4, 8, 16, 32):
            return num, den
    return 4, 4


def _tempos(content: MidiContent) -> tuple[float, tuple[tuple[float, float], ...]]:
    """The tempo at the start (120 qpm when none) and the later changes, repeats dropped."""
    if not content.tempos:
        return 120.0, ()
    first_beat = content.tempos[0][0]
    # Several tempos at the first position: the last one is what a player would use.
    qpm = [q for b, q in content.tempos if b == first_beat][-1]
    changes, current = [], qpm
    for beat, q in content.tempos:
        if beat > first_beat and q != current:
            changes.append((beat, q))
            current = q
    return qpm, tuple(changes)
