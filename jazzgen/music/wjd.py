"""Read Weimar Jazz Database solos (melody + beat tables) into scores, and convert them to MIDI.

Both tables share the recording's time line in seconds. The beat table is the metrical grid:
beat k of the score (a quarter note) is the k-th annotated beat, so a note's position in beats is
the index of the beat it falls in plus how far it is, in seconds, towards the next beat. That keeps
the player's own timing (laid-back, rushed) instead of snapping it to a grid. The release's own
MIDI files are on another time line: only their velocities are used, paired with the table's
notes by pitch order (`music.wjd_release`).
"""

from __future__ import annotations

import csv
import math
import os
import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jazzgen.core.files import atomic_open
from jazzgen.errors import ChordParseError, InputError, UsageError
from jazzgen.music.chords import parse_chord
from jazzgen.music.midi_io import write_midi
from jazzgen.music.score import ChordSpan, Note, Score
from jazzgen.music.tracks import make_monophonic
from jazzgen.music.wjd_release import ReleaseIndex, filled

MELODY_COLUMNS = ("onset", "duration", "pitch")
BEAT_COLUMNS = ("onset", "bar", "beat", "chord", "signature")
SOLO_SUFFIX = "_Solo.csv"
ATTRIBUTION = (
    "Weimar Jazz Database (WJazzD), Jazzomat Research Project, "
    "Hochschule fuer Musik Franz Liszt Weimar"
)
ODBL_URL = "https://opendatacommons.org/licenses/odbl/1-0/"
VELOCITY_NOTE = (
    "The melody notes' velocities (loudness) come from the release's MIDI files "
    "(`RELEASE2.0_mid_unquant`, `<stem>_FINAL.mid`), paired with the melody tables' notes by "
    "pitch order (their time line differs from the tables'); notes the pairing left open have "
    "their file's median velocity, and solos without an agreeing release file velocity 90.\n"
)
CONSTANT_VELOCITY = 90  # of every note when no release MIDI gives the players' loudness


def read_wjd(melody_csv: str | os.PathLike, beats_csv: str | os.PathLike,
             velocities: list[int] | None = None) -> Score:
    """Read one WJD solo from its melody table and its beat table.

    Beat 0 of the score is the downbeat of the first bar in the beat table (usually the
    count-in bar -1); when that bar starts mid-bar, the missing beats are added before it at the
    first beat's length, so bar lines fall every `beats_per_bar` beats.

    Args:
        melody_csv: `melody/<stem>_Solo.csv` (onset and duration in seconds, MIDI pitch).
        beats_csv: `beats/<stem>_Solo.csv` (onset in seconds, bar, beat, chord, signature).
        velocities: one MIDI velocity per melody row (from the release MIDI); None: all 90.

    Returns:
        The solo, made monophonic, with chord spans from the chord column, the most common time
        signature, `tempo_qpm` from the median beat length and one tempo change per beat, so
        that a written MIDI file puts every beat at its recorded time (less the first beat's).

    Raises:
        InputError: "unreadable table", "too few beats", "no notes", "unknown chord symbol".
    """
    beat_rows = _read_table(beats_csv, BEAT_COLUMNS)
    note_rows = _read_table(melody_csv, MELODY_COLUMNS)
    try:
        grid_s, first_beat = _beat_grid(beats_csv, beat_rows)
    except ValueError as e:  # a number that is not one
        raise InputError(beats_csv, "unreadable table", str(e)) from e
    try:
        notes = make_monophonic(_notes(note_rows, grid_s, velocities))
    except ValueError as e:  # a number that is not one, a pitch outside 0..127
        raise InputError(melody_csv, "unreadable table", str(e)) from e
    if not notes:
        raise InputError(melody_csv, "no notes")
    lengths_s = np.diff(grid_s)
    # One tempo per beat (the last one holds on): MIDI time then follows the recorded beats.
    changes = tuple((float(k), 60.0 / float(s)) for k, s in enumerate(lengths_s))
    score = Score(
        notes=notes,
        chords=_chord_spans(beats_csv, beat_rows, first_beat, len(grid_s)),
        time_signature=_time_signature(beat_rows),
        tempo_qpm=60.0 / statistics.median(lengths_s),
        tempo_changes=changes,
        source=str(melody_csv),
    )
    score.meta.update(
        first_bar=int(beat_rows[0]["bar"]),
        added_beats=first_beat,
        bars=math.ceil(score.end_beat / score.beats_per_bar - 1e-9),
    )
    return score


def import_wjd(
    src_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    progress: Callable[[int, int, str], None] | None = None,
    release_dir: str | os.PathLike | None = None,
) -> dict:
    """Convert every WJD solo under `src_dir` to `out_dir/<stem>.mid`, with the ODbL notice.

    Each file has a `melody` track, a `chords` track (chord symbols as markers) and a tempo map
    that follows the recorded beats. Melody velocities come from the release MIDI when there is
    one (`music.wjd_release`), else every note has velocity `CONSTANT_VELOCITY`.

    Args:
        src_dir: the WJD folder holding `melody/` and `beats/` (`<stem>_Solo.csv` in each).
        out_dir: where the MIDI files, `LICENSE-ODbL.txt` and `NOTICE.md` go.
        progress: called as progress(done, total, stem) after each solo.
        release_dir: the release MIDI files (`<stem>_FINAL.mid`); default `src_dir/midi` when
            that folder exists.

    Returns:
        {"written": n, "skipped": n, "skipped_by_reason": {reason: [stems]}, "out_dir": str,
        "velocities": {"release_files": n, "exact": n, "aligned": n, "unpaired": n,
        "notes_paired": n, "notes_filled": n, "by_content": {table stem: release stem}}}.

    Raises:
        UsageError: `src_dir` has no melody tables.
    """
    src, out = Path(src_dir), Path(out_dir)
    # One release file is spelled "_solo.csv": match the suffix without regard to case.
    melody_tables = sorted(
        p for p in (src / "melody").glob("*.csv") if p.name.lower().endswith(SOLO_SUFFIX.lower())
    )
    if not melody_tables:
        raise UsageError(f"{src / 'melody'}: no *{SOLO_SUFFIX} melody tables")
    release_dir = src / "midi" if release_dir is None and (src / "midi").is_dir() else release_dir
    release = ReleaseIndex(release_dir) if release_dir is not None else None
    pairing = Counter({"release_files": len(release) if release else 0})
    by_content: dict[str, str] = {}
    written, skipped = 0, {}
    for done, melody_csv in enumerate(melody_tables, start=1):
        stem = melody_csv.name[: -len(SOLO_SUFFIX)]
        beats_csv = src / "beats" / melody_csv.name
        try:
            if not beats_csv.is_file():
                raise InputError(melody_csv, "no beat table", str(beats_csv))
            velocities = None
            if release is not None:
                found = release.pair(stem, _table_pitches(melody_csv))
                velocities = filled(found, CONSTANT_VELOCITY)
                pairing.update({found.kind: 1, "notes_paired": found.paired,
                                "notes_filled": len(velocities) - found.paired if found.paired else 0})
                if found.by_content:
                    by_content[stem] = found.release
            write_midi(read_wjd(melody_csv, beats_csv, velocities), out / f"{stem}.mid")
            written += 1
        except InputError as e:
            skipped.setdefault(e.reason, []).append(stem)
        if progress is not None:
            progress(done, len(melody_tables), stem)
    write_wjd_notice(out, velocities=release is not None)
    return {
        "written": written,
        "skipped": sum(len(stems) for stems in skipped.values()),
        "skipped_by_reason": skipped,
        "out_dir": str(out),
        "velocities": {**{k: pairing[k] for k in ("release_files", "exact", "aligned", "unpaired",
                                                 "notes_paired", "notes_filled")}, "by_content": by_content},
    }


def _table_pitches(melody_csv: Path) -> list[int]:
    """The pitch of every melody row, in order (the rows the release notes pair with)."""
    try:
        return [round(float(row["pitch"])) for row in _read_table(melody_csv, MELODY_COLUMNS)]
    except ValueError as e:
        raise InputError(melody_csv, "unreadable table", str(e)) from e


def write_wjd_notice(out_dir: str | os.PathLike, velocities: bool = False) -> None:
    """Write the ODbL notice and attribution that must travel with anything made from the WJD.

    `velocities`: the melody velocities came from the release MIDI files (the notice says so).
    """
    out = Path(out_dir)
    with atomic_open(out / "LICENSE-ODbL.txt", encoding="utf-8") as f:
        f.write(
            "The MIDI files in this folder are made available under the Open Database License\n"
            f"(ODbL) v1.0: {ODBL_URL}\n\n"
            f"They are a derived database of the {ATTRIBUTION},\n"
            "which is itself licensed under the ODbL v1.0. Keep this notice, and NOTICE.md,\n"
            "with any copy of these files and with anything derived from them: the ODbL is\n"
            "share-alike for derived databases.\n"
        )
    with atomic_open(out / "NOTICE.md", encoding="utf-8") as f:
        f.write(
            "# Weimar Jazz Database solos as MIDI\n\n"
            f"Source: {ATTRIBUTION}. Licensed under the Open Database License v1.0 "
            f"(ODbL, {ODBL_URL}).\n\n"
            "These files are a derived database under the ODbL, made by `jazzgen import-wjd` "
            "from the WJD melody tables (`melody/<stem>_Solo.csv`: note onsets, durations and "
            "pitches) and beat tables (`beats/<stem>_Solo.csv`: beat onsets, chord symbols, time "
            "signatures). Each `<stem>.mid` holds a `melody` track (the solo), a `chords` track "
            "(block chords, with each chord symbol as a marker) and a tempo map that places every "
            "annotated beat at its recorded time. "
            + (VELOCITY_NOTE if velocities else "The release's own MIDI files were not used.\n")
        )


def _read_table(path: str | os.PathLike, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a CSV table that must have `columns`."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            missing = [c for c in columns if c not in (reader.fieldnames or ())]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(path, "unreadable table", str(e)) from e
    if missing:
        raise InputError(path, "unreadable table", f"no column {', '.join(missing)}")
    return rows


def _beat_grid(path: str | os.PathLike, rows: list[dict[str, str]]) -> tuple[np.ndarray, int]:
    """Onsets in seconds of score beats 0, 1, ...; and how many beats were added before row 0.

    Beats missing before a first bar that starts mid-bar are added at the first beat's length.
    """
    if len(rows) < 2:
        raise InputError(path, "too few beats", f"{len(rows)} beat(s)")
    onsets_s = np.array([float(r["onset"]) for r in rows])
    if not np.all(np.diff(onsets_s) > 0):
        raise InputError(path, "unreadable table", "beat onsets do not increase")
    added = max(0, int(rows[0]["beat"]) - 1)
    first_s = onsets_s[1] - onsets_s[0]
    before = onsets_s[0] - first_s * np.arange(added, 0, -1)
    return np.concatenate([before, onsets_s]), added


def seconds_to_beats(seconds: np.ndarray, grid_s: np.ndarray) -> np.ndarray:
    """Positions in beats of times in seconds, linear between beats and beyond the first/last."""
    beats = np.interp(seconds, grid_s, np.arange(len(grid_s), dtype=float))
    first_s, last_s = grid_s[1] - grid_s[0], grid_s[-1] - grid_s[-2]
    beats = np.where(seconds < grid_s[0], (seconds - grid_s[0]) / first_s, beats)
    return np.where(seconds > grid_s[-1], len(grid_s) - 1 + (seconds - grid_s[-1]) / last_s, beats)


def _notes(rows: list[dict[str, str]], grid_s: np.ndarray, velocities: list[int] | None = None) -> list[Note]:
    """Melody rows as notes in beats; rows without length are dropped (nothing to hear)."""
    if velocities is None:
        velocities = [CONSTANT_VELOCITY] * len(rows)
    onset_s = np.array([float(r["onset"]) for r in rows])
    duration_s = np.array([float(r["duration"]) for r in rows])
    start = seconds_to_beats(onset_s, grid_s)
    end = seconds_to_beats(onset_s + duration_s, grid_s)
    notes = []
    for row, start_beat, end_beat, velocity in zip(rows, start, end, velocities, strict=True):
        pitch = round(float(row["pitch"]))
        start_beat = max(0.0, float(start_beat))  # never before the count-in bar
        if end_beat > start_beat:
            notes.append(Note(pitch, start_beat, float(end_beat) - start_beat, velocity))
    return notes


def _chord_spans(
    path: str | os.PathLike, rows: list[dict[str, str]], first_beat: int, n_beats: int
) -> tuple[ChordSpan, ...]:
    """Chord spans from the chord column: each symbol holds until the next different one."""
    changes = []
    for i, row in enumerate(rows):
        symbol = row["chord"].strip()
        if not symbol or (changes and changes[-1][1].symbol == symbol):
            continue
        try:
            changes.append((first_beat + i, parse_chord(symbol)))
        except ChordParseError as e:
            raise InputError(path, "unknown chord symbol", symbol) from e
    bounds = [beat for beat, _ in changes[1:]] + [n_beats]
    return tuple(
        ChordSpan(chord, float(beat), float(stop - beat))
        for (beat, chord), stop in zip(changes, bounds, strict=True)
    )


def _time_signature(rows: list[dict[str, str]]) -> tuple[int, int]:
    """The signature that holds for the most beats (a signature holds until the next one)."""
    counts: Counter[str] = Counter()
    current = next((r["signature"].strip() for r in rows if r["signature"].strip()), "4/4")
    for row in rows:
        current = row["signature"].strip() or current
        counts[current] += 1
    try:
        num, _ = (int(part) for part in counts.most_common(1)[0][0].split("/"))
    except ValueError:
        return 4, 4
    # A row of the beat table is one quarter note of the score, so a bar holds `num` of them.
    return (num, 4) if num > 0 else (4, 4)
