"""Velocities from WJD release MIDI, paired with the melody tables' notes by pitch order (not by time)."""

from __future__ import annotations

from jazzgen.music.midi_io import read_midi, write_midi
from jazzgen.music.score import Note, Score
from jazzgen.music.wjd import CONSTANT_VELOCITY, import_wjd
from jazzgen.music.wjd_release import MIN_RUN, ReleaseIndex, filled, pair_velocities
from tests.test_wjd import solo

# A table of 12 notes (pitches) and the release's velocities for them.
PITCHES = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65]
VELOCITIES = [100, 90, 110, 80, 105, 95, 120, 70, 85, 99, 101, 111]


def release_file(path, pitches, velocities, scale=0.8, offset=3.0):
    """A release-like MIDI: the notes in order, on another time line (scaled and shifted)."""
    notes = tuple(Note(p, offset + scale * k, scale * 0.9, v)
                  for k, (p, v) in enumerate(zip(pitches, velocities, strict=True)))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_midi(Score(notes), path)
    return path


def test_equal_pitch_sequences_pair_note_for_note():
    assert pair_velocities(PITCHES, tuple(PITCHES), tuple(VELOCITIES)) == (tuple(VELOCITIES), "exact")


def test_a_count_mismatch_is_aligned_and_only_agreeing_runs_are_paired():
    # The release lacks the table's 6th note (69) and has an extra note after the 9th.
    release = PITCHES[:5] + PITCHES[6:9] + [50] + PITCHES[9:]
    velocities = VELOCITIES[:5] + VELOCITIES[6:9] + [1] + VELOCITIES[9:]
    found = pair_velocities(PITCHES * 4, tuple(release + PITCHES * 3), tuple(velocities + VELOCITIES * 3))
    assert found is not None
    paired, kind = found
    assert kind == "aligned"
    assert paired[:5] == tuple(VELOCITIES[:5])
    assert paired[5] is None  # no release note for it
    assert paired[6:9] == (None,) * 3  # a run of 3 between two edits is shorter than MIN_RUN
    assert MIN_RUN > 3
    assert paired[9:] == tuple(VELOCITIES[9:] + VELOCITIES * 3)  # 3 + 36 agreeing notes
    assert 1 not in paired  # the release's extra note never lends its velocity


def test_sequences_that_do_not_agree_are_not_paired():
    other = [p + 1 if k % 2 else p for k, p in enumerate(PITCHES)]
    assert pair_velocities(PITCHES, tuple(other), tuple(VELOCITIES)) is None


def test_release_files_are_found_by_name_or_by_their_notes(tmp_path):
    midi = tmp_path / "midi"
    line = PITCHES * 2
    swapped = [p + 5 for p in PITCHES] * 2
    release_file(midi / "Some_Tune=One_FINAL.mid", line, VELOCITIES * 2)       # punctuation differs
    release_file(midi / "Other_Piece_FINAL.mid", swapped, [64] * 24)            # carries the wrong name
    index = ReleaseIndex(midi)
    by_name = index.pair("Some_Tune-One", line)
    assert (by_name.kind, by_name.release, by_name.by_content) == ("exact", "Some_Tune=One", False)
    assert by_name.velocities == tuple(VELOCITIES * 2)
    # A table named like no release file, whose notes are another file's, is found by content.
    by_notes = index.pair("Renamed_Take", swapped)
    assert (by_notes.kind, by_notes.release, by_notes.by_content) == ("exact", "Other_Piece", True)
    missing = index.pair("Nobody_Plays", [40, 41, 42, 43, 44, 45, 46, 47, 48])
    assert missing.kind == "unpaired" and missing.paired == 0
    assert filled(missing, CONSTANT_VELOCITY) == [CONSTANT_VELOCITY] * 9


def test_import_writes_release_velocities_into_the_melody_track(tmp_path):
    src = tmp_path / "wjd"
    # Table notes (from tests.test_wjd): pitches 70, 72, 65, 67.
    solo(src, "Someone_Tune")
    release_file(src / "midi" / "Someone_Tune_FINAL.mid", [70, 72, 65, 67], [101, 77, 123, 64])
    # A second solo whose release file misses a note: a count mismatch, aligned.
    notes = [(3.0 + 0.25 * k, 0.2, p) for k, p in enumerate(PITCHES)]
    solo(src, "Another_Take", notes=notes)
    release_file(src / "midi" / "Another_Take_FINAL.mid", PITCHES[:6] + PITCHES[7:],
                 VELOCITIES[:6] + VELOCITIES[7:])
    report = import_wjd(src, tmp_path / "out")
    v = report["velocities"]
    assert (v["release_files"], v["exact"], v["aligned"], v["unpaired"]) == (2, 1, 1, 0)
    assert (v["notes_paired"], v["notes_filled"]) == (4 + 11, 1)
    melody = next(t for t in read_midi(tmp_path / "out" / "Someone_Tune.mid").tracks if t.name == "melody")
    assert [n.velocity for n in melody.notes] == [101, 77, 123, 64]
    melody = next(t for t in read_midi(tmp_path / "out" / "Another_Take.mid").tracks if t.name == "melody")
    median = sorted(VELOCITIES[:6] + VELOCITIES[7:])[5]
    assert [n.velocity for n in melody.notes] == VELOCITIES[:6] + [median] + VELOCITIES[7:]
    assert "velocities (loudness) come from the release" in (tmp_path / "out" / "NOTICE.md").read_text()


def test_import_without_release_files_keeps_the_constant_velocity(tmp_path):
    src = tmp_path / "wjd"
    solo(src, "Someone_Tune")
    report = import_wjd(src, tmp_path / "out")
    assert report["velocities"]["release_files"] == 0
    melody = next(t for t in read_midi(tmp_path / "out" / "Someone_Tune.mid").tracks if t.name == "melody")
    assert {n.velocity for n in melody.notes} == {CONSTANT_VELOCITY}
    assert "were not used" in (tmp_path / "out" / "NOTICE.md").read_text()
