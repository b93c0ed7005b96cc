"""The music plug-in for the generic stages: files -> scores -> values, and values -> MIDI.

`read_score` is the one door for every input form (two-track or band MIDI, WJD melody + beat
tables); it raises `InputError` with a short reason for anything unusable, so `preprocess` can
skip the file, count the reason and keep going.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jazzgen.core.files import check_input
from jazzgen.errors import InputError
from jazzgen.music.chords import parse_chord
from jazzgen.music.midi_io import MIDI_SUFFIXES
from jazzgen.music.score import ChordSpan, Score

MUSICXML_SUFFIXES = (".xml", ".mxl", ".musicxml")
TABLE_SUFFIXES = (".csv",)
IGNORED_SUFFIXES = (".md", ".txt", ".json", ".pdf", ".png", ".wav", ".npz", ".npy", ".jsonl")


def is_beat_table(path: Path) -> bool:
    """WJD beat tables are read together with their melody table, never on their own."""
    return path.suffix.lower() == ".csv" and path.parent.name == "beats"


def find_inputs(sources: list[str]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Expand files and folders (recursively) into music files, sorted for a stable order.

    Returns:
        (inputs, ignored): files to read, and (file, reason) for files not even tried.
    """
    inputs: list[Path] = []
    ignored: list[tuple[Path, str]] = []
    for source in sources:
        root = Path(source)
        # Not only regular files: a FIFO or a link to a device named like music is listed, so
        # reading it reports "not a regular file" instead of it vanishing without a word.
        candidates = sorted(p for p in root.rglob("*") if not p.is_dir()) if root.is_dir() else [root]
        for path in candidates:
            if any(part.startswith(".") for part in path.parts[len(root.parts) - 1 :] if part not in (".", "..")):
                continue
            suffix = path.suffix.lower()
            if suffix in MIDI_SUFFIXES + MUSICXML_SUFFIXES or (suffix in TABLE_SUFFIXES and not is_beat_table(path)):
                inputs.append(path)
            elif suffix in IGNORED_SUFFIXES or path.name.upper().startswith(("LICENSE", "NOTICE", "README")):
                continue
            elif not is_beat_table(path):
                ignored.append((path, "not a music file"))
    return sorted(set(inputs)), ignored


def read_score(path: Path, melody_track: str = "", max_file_mb: float = 20.0, max_notes: int = 200_000) -> Score:
    """Read one input file into a Score; raises InputError(path, reason) when it is unusable."""
    max_bytes = int(max_file_mb * 1e6)
    if check_input(path, max_bytes) == 0:  # a FIFO, /dev/zero or a huge sparse file stops here
        raise InputError(path, "empty file")
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        from jazzgen.music.midi_io import read_midi
        from jazzgen.music.tracks import score_from_midi

        content = read_midi(path, max_bytes=max_bytes, max_notes=max_notes)
        choice: str | int | None = melody_track or None
        if isinstance(choice, str) and choice.removeprefix("#").isdigit():  # "3" or "#3": an index
            choice = int(choice.removeprefix("#"))
        return score_from_midi(content, path, melody_track=choice)
    if suffix in TABLE_SUFFIXES:
        from jazzgen.music.wjd import read_wjd

        beats = path.parent.parent / "beats" / path.name
        if not beats.is_file():
            raise InputError(path, "no beat table", f"expected {beats}")
        check_input(beats, max_bytes)
        return read_wjd(path, beats)
    if suffix in MUSICXML_SUFFIXES:
        from jazzgen.music.musicxml import read_musicxml

        return read_musicxml(path, max_bytes)
    raise InputError(path, "not a music file")


def chords_to_json(chords: tuple[ChordSpan, ...] | list[ChordSpan]) -> list[list]:
    """Chord spans as [symbol, start_beat, duration_beats] rows (the corpus and run dirs keep these)."""
    return [[c.chord.symbol, round(c.start_beat, 6), round(c.duration_beats, 6)] for c in chords]


def chords_from_json(rows: list[list]) -> list[ChordSpan]:
    return [ChordSpan(parse_chord(sym), float(start), float(dur)) for sym, start, dur in rows]


def loop_changes(chords: list[ChordSpan], total_beats: float) -> list[ChordSpan]:
    """Repeat a chord sequence (a chorus) until it covers `total_beats`, cutting the last span."""
    if not chords:
        return []
    period = chords[-1].end_beat - chords[0].start_beat
    origin = chords[0].start_beat
    out: list[ChordSpan] = []
    offset = 0.0
    while offset < total_beats - 1e-9 and period > 0:
        for span in chords:
            start = span.start_beat - origin + offset
            if start >= total_beats - 1e-9:
                break
            out.append(ChordSpan(span.chord, start, min(span.duration_beats, total_beats - start)))
        offset += period
    return out


def piece_changes(piece: dict, bars: int) -> tuple[list[ChordSpan], tuple[int, int], float]:
    """The changes of a corpus piece for `bars` bars, from its first full bar, looped if short."""
    ts = tuple(piece.get("time_signature", (4, 4)))
    beats_per_bar = ts[0] * 4.0 / ts[1]
    spans = chords_from_json(piece["chords"])
    if spans:
        # Start at the first bar line at or after the first chord so the solo starts on a downbeat.
        first = spans[0].start_beat
        bar0 = np.ceil(first / beats_per_bar - 1e-9) * beats_per_bar
        spans = [ChordSpan(s.chord, max(s.start_beat, bar0), s.end_beat - max(s.start_beat, bar0))
                 for s in spans if s.end_beat > bar0 + 1e-9]
    return loop_changes(spans, bars * beats_per_bar), ts, float(piece.get("tempo_qpm", 120.0))


def has_changes(piece: dict) -> bool:
    """Whether a corpus piece has at least one real chord (free pieces are N.C. throughout).

    Default generation plays over corpus changes; N.C. gives the melody nothing to follow.
    """
    return any(parse_chord(symbol).root is not None for symbol, _, _ in piece.get("chords", ()))
