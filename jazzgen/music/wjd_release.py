"""Velocities for WJD solos from the release's own MIDI files, paired with the melody tables' notes.

The melody tables hold onsets, durations and pitches but no loudness. The WJD release MIDI
(`<stem>_FINAL.mid`) carries a velocity for every note (a loudness estimate made when the solo
was transcribed), but on another time line (per-file scale and offset), so notes are paired by
their order and pitch, never by time:

- the release file is found by its name (compared without case or punctuation: the release
  spells `Cross=Fade` where the tables spell `Cross-Fade`, `Juju` for `JuJu`), and when that file's
  pitches do not agree with the table's, by content: the release file sharing most 8-note pitch
  runs with the table (two release files carry each other's names);
- equal pitch sequences pair note for note ("exact");
- otherwise `difflib.SequenceMatcher` aligns the two pitch sequences, and only notes inside a
  matching run of at least `MIN_RUN` notes are paired ("aligned"), when the runs cover at least
  `MIN_SHARE` of the table's notes; the table's other notes get the file's median velocity;
- a table with no release file that agrees keeps the constant velocity ("unpaired").
"""

from __future__ import annotations

import os
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from jazzgen.errors import InputError
from jazzgen.music.midi_io import read_midi

RELEASE_SUFFIX = "_FINAL.mid"
MIN_RUN = 4  # notes: shorter agreeing runs between edits may agree by chance
MIN_SHARE = 0.9  # of the table's notes inside agreeing runs, for a file to be paired at all
GRAM = 8  # notes per pitch run in the content index


@dataclass(frozen=True)
class Pairing:
    """Velocities for one melody table's rows.

    Attributes:
        velocities: one per table row, None where no release note was paired.
        kind: "exact", "aligned" or "unpaired".
        release: the release file's stem ("" when unpaired).
        by_content: the release file was found by its notes, not by its name.
    """

    velocities: tuple[int | None, ...]
    kind: str
    release: str = ""
    by_content: bool = False

    @property
    def paired(self) -> int:
        """How many rows got a release velocity."""
        return sum(v is not None for v in self.velocities)


def _key(stem: str) -> str:
    return re.sub(r"[^a-z0-9]", "", stem.lower())


class ReleaseIndex:
    """The release MIDI files of one folder: pitches and velocities in order, found by name or content."""

    def __init__(self, midi_dir: str | os.PathLike):
        self.notes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.unreadable: list[str] = []
        for path in sorted(Path(midi_dir).glob(f"*{RELEASE_SUFFIX}")):
            stem = path.name[: -len(RELEASE_SUFFIX)]
            try:
                content = read_midi(path)
            except InputError:
                self.unreadable.append(stem)
                continue
            notes = sorted((n.start_beat, n.pitch, n.velocity) for t in content.tracks for n in t.notes)
            self.notes[stem] = (tuple(p for _, p, _ in notes), tuple(v for _, _, v in notes))
        self._by_key = {_key(stem): stem for stem in self.notes}
        self._grams: dict[tuple[int, ...], set[str]] = {}
        for stem, (pitches, _) in self.notes.items():
            for i in range(len(pitches) - GRAM + 1):
                self._grams.setdefault(pitches[i : i + GRAM], set()).add(stem)

    def __len__(self) -> int:
        return len(self.notes)

    def pair(self, stem: str, pitches: list[int] | tuple[int, ...]) -> Pairing:
        """Velocities for the table `stem` whose rows have `pitches` (see the module docstring)."""
        named = self._by_key.get(_key(stem))
        if named is not None:
            found = pair_velocities(pitches, *self.notes[named])
            if found is not None:
                return Pairing(found[0], found[1], named)
        votes: Counter[str] = Counter()
        for i in range(len(pitches) - GRAM + 1):
            votes.update(self._grams.get(tuple(pitches[i : i + GRAM]), ()))
        for other, _ in votes.most_common(2):
            if other != named and (found := pair_velocities(pitches, *self.notes[other])) is not None:
                return Pairing(found[0], found[1], other, by_content=True)
        return Pairing((None,) * len(pitches), "unpaired")


def pair_velocities(table: list[int] | tuple[int, ...], pitches: tuple[int, ...], velocities: tuple[int, ...]
                    ) -> tuple[tuple[int | None, ...], str] | None:
    """Release velocities for the table's notes by pitch order, or None when the two do not agree.

    Args:
        table: the table's pitches, one per row.
        pitches, velocities: the release file's notes in onset order.

    Returns:
        (one velocity or None per table row, "exact" | "aligned"), or None when fewer than
        `MIN_SHARE` of the rows fall inside agreeing runs of `MIN_RUN` notes or more.
    """
    table = tuple(table)
    if table == pitches:
        return tuple(velocities), "exact"
    if not table:
        return None
    out: list[int | None] = [None] * len(table)
    blocks = SequenceMatcher(None, table, pitches, autojunk=False).get_matching_blocks()
    for a, b, size in blocks:
        if size >= MIN_RUN:
            out[a : a + size] = velocities[b : b + size]
    if sum(v is not None for v in out) < MIN_SHARE * len(table):
        return None
    return tuple(out), "aligned"


def filled(pairing: Pairing, default: int) -> list[int]:
    """The pairing's velocities with unpaired rows given the file's median (`default` when none)."""
    known = [v for v in pairing.velocities if v is not None]
    fill = round(statistics.median(known)) if known else default
    return [fill if v is None else v for v in pairing.velocities]
