"""read_wjd / import_wjd on tiny WJD-like tables built in each test."""

from __future__ import annotations

import csv

import pretty_midi
import pytest

from jazzgen.errors import InputError, UsageError
from jazzgen.music.midi_io import read_midi, write_midi
from jazzgen.music.tracks import score_from_midi
from jazzgen.music.wjd import import_wjd, read_wjd

BEAT_FIELDS = ["bar", "bass_pitch", "beat", "chord", "chorus_id", "form", "onset", "signature"]
MELODY_FIELDS = ["bar", "beat", "beatdur", "denom", "division", "duration", "num", "onset",
                 "period", "pitch", "subtatum", "tatum"]  # fmt: skip

# A count-in bar, then two bars whose beats wander around 120 qpm, as a player's do.
ONSETS_S = [1.0, 1.5, 2.02, 2.5, 3.0, 3.48, 4.0, 4.55, 5.0, 5.5, 6.0, 6.5]
CHORDS = {4: "Bb7", 6: "Eb7", 8: "Bb7"}  # row -> chord change
# (onset s, duration s, pitch): on beat 4; halfway into beat 5, overlapping the next note;
# into beat 6; and one past the last beat.
NOTES = [(3.0, 0.24, 70), (3.74, 0.6, 72), (4.2, 0.3, 65), (6.75, 0.5, 67)]


def beat_rows(onsets, first_bar=-1, first_beat=1, chords=None, signature="4/4", per_bar=4):
    rows, bar, beat = [], first_bar, first_beat
    for i, onset in enumerate(onsets):
        chord = (chords or {}).get(i, "")
        sig = signature if (chord or i == 0) and bar >= 0 else ""
        rows.append({"bar": bar, "beat": beat, "chord": chord, "onset": onset, "signature": sig})
        bar, beat = (bar + 1, 1) if beat == per_bar else (bar, beat + 1)
    return rows


def flat(pairs):
    return [x for pair in pairs for x in pair]


def write_csv(path, fields, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fields, restval="0")
        writer.writeheader()
        writer.writerows(rows)
    return path


def solo(root, stem="Someone_Tune", beats=None, notes=NOTES, suffix="_Solo.csv"):
    """Write melody/<stem>_Solo.csv and beats/<stem>_Solo.csv under root; return both paths."""
    beats = beat_rows(ONSETS_S, chords=CHORDS) if beats is None else beats
    melody = [{"onset": o, "duration": d, "pitch": f"{p}.0"} for o, d, p in notes]
    return (
        write_csv(root / "melody" / f"{stem}{suffix}", MELODY_FIELDS, melody),
        write_csv(root / "beats" / f"{stem}{suffix}", BEAT_FIELDS, beats),
    )


def test_notes_are_placed_by_the_beats_they_fall_between(tmp_path):
    score = read_wjd(*solo(tmp_path))
    assert [n.pitch for n in score.notes] == [70, 72, 65, 67]
    assert flat((n.start_beat, n.end_beat) for n in score.notes) == pytest.approx(
        [
            *(4.0, 4.5),  # 0.24 s of a 0.48 s beat
            *(5.5, 6 + 0.2 / 0.55),  # cut where the next note starts (4.2 s)
            *(6 + 0.2 / 0.55, 6 + 0.5 / 0.55),
            *(11.5, 12.5),  # past the last beat: at the last beat's length (0.5 s)
        ]
    )
    assert [(c.chord.symbol, c.start_beat, c.end_beat) for c in score.chords] == [
        ("Bb7", 4.0, 6.0),
        ("Eb7", 6.0, 8.0),
        ("Bb7", 8.0, 12.0),
    ]
    assert score.time_signature == (4, 4)
    assert score.tempo_qpm == pytest.approx(120.0)  # median beat: 0.5 s
    assert flat(score.tempo_changes[:2]) == pytest.approx([0.0, 120.0, 1.0, 60 / 0.52])
    assert score.meta["first_bar"] == -1 and score.meta["bars"] == 4


def test_midi_tempo_map_puts_every_beat_at_its_recorded_time(tmp_path):
    path = tmp_path / "solo.mid"
    write_midi(read_wjd(*solo(tmp_path)), path)
    pm = pretty_midi.PrettyMIDI(str(path))
    for k, onset in enumerate(ONSETS_S):
        assert pm.tick_to_time(k * pm.resolution) == pytest.approx(onset - ONSETS_S[0], abs=0.002)
    melody = next(i for i in pm.instruments if i.name == "melody")
    starts = [n.start for n in sorted(melody.notes, key=lambda n: n.start)]
    assert starts == pytest.approx([o - ONSETS_S[0] for o, _, _ in NOTES], abs=0.002)
    again = score_from_midi(read_midi(path), path)
    assert [c.chord.symbol for c in again.chords] == ["Bb7", "Eb7", "Bb7"]


def test_a_first_bar_starting_mid_bar_is_filled_to_its_downbeat(tmp_path):
    beats = beat_rows([10.0, 10.4], first_bar=0, first_beat=3, chords={0: "C7"})
    score = read_wjd(*solo(tmp_path, beats=beats, notes=[(10.1, 0.2, 60), (10.5, 0.4, 62)]))
    assert score.meta["added_beats"] == 2
    starts_and_lengths = flat((n.start_beat, n.duration_beats) for n in score.notes)
    assert starts_and_lengths == pytest.approx([2.25, 0.5, 3.25, 1.0])
    assert [(c.chord.symbol, c.start_beat, c.end_beat) for c in score.chords] == [("C7", 2, 4)]
    assert score.tempo_changes[0] == pytest.approx((0.0, 60 / 0.4))  # added beats: first length


def test_time_signature_is_the_one_held_longest(tmp_path):
    beats = beat_rows(ONSETS_S, first_bar=0, chords={0: "F"}, signature="3/4", per_bar=3)
    assert read_wjd(*solo(tmp_path, beats=beats)).time_signature == (3, 4)


@pytest.mark.parametrize(
    ("beats", "reason"),
    [
        (beat_rows(ONSETS_S, chords={4: "Q7"}), "unknown chord symbol"),
        (beat_rows(ONSETS_S[:1]), "too few beats"),
        (beat_rows(ONSETS_S[::-1]), "unreadable table"),
        ([{"bar": 1}], "unreadable table"),
    ],
)
def test_bad_tables_name_their_reason(tmp_path, beats, reason):
    if beats == [{"bar": 1}]:  # a table without the columns read_wjd needs
        melody, table = solo(tmp_path)
        table.write_text("bar\n1\n")
    else:
        melody, table = solo(tmp_path, beats=beats)
    with pytest.raises(InputError) as err:
        read_wjd(melody, table)
    assert err.value.reason == reason


def test_import_wjd_converts_pairs_and_counts_the_rest(tmp_path):
    src, out = tmp_path / "wjd", tmp_path / "out"
    solo(src, "Good_One")
    solo(src, "Odd_Case", suffix="_solo.csv")  # as one file of the real release is spelled
    solo(src, "Bad_Chord", beats=beat_rows(ONSETS_S, chords={4: "Q7"}))
    melody, beats = solo(src, "No_Beats")
    beats.unlink()
    seen = []
    result = import_wjd(src, out, progress=lambda done, total, stem: seen.append((done, total)))
    assert result["written"] == 2 and result["skipped"] == 2
    assert result["skipped_by_reason"] == {
        "unknown chord symbol": ["Bad_Chord"],
        "no beat table": ["No_Beats"],
    }
    assert sorted(p.name for p in out.glob("*.mid")) == ["Good_One.mid", "Odd_Case.mid"]
    assert seen[-1] == (4, 4)
    notice = (out / "NOTICE.md").read_text() + (out / "LICENSE-ODbL.txt").read_text()
    assert "Jazzomat Research Project, Hochschule fuer Musik Franz Liszt Weimar" in notice
    assert "Open Database License" in notice and "jazzgen import-wjd" in notice
    with pytest.raises(UsageError):
        import_wjd(tmp_path / "nothing", out)
