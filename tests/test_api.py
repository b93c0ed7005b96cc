"""The Python API: generate over charts, tunes and corpus changes; ranges, dynamics, keys, files."""

from __future__ import annotations

import numpy as np
import pytest

import jazzgen
from jazzgen.errors import UsageError
from jazzgen.music.charts import ChartError
from jazzgen.music.instruments import INSTRUMENTS, find_instrument, shape_dynamics
from jazzgen.music.pipeline import read_score
from jazzgen.music.score import Note

CHANGES = "|: Dm7 | G7 | Cmaj7 | % :|"


@pytest.fixture(scope="module")
def song():
    return jazzgen.generate(chords=CHANGES, bars=8, seed=3)


def test_import_lists_the_api():
    for name in ("generate", "generate_many", "read_chart", "tunes", "preprocess", "train", "evaluate"):
        assert name in dir(jazzgen) and getattr(jazzgen, name).__doc__


def test_generate_plays_the_chart_for_the_bars_asked(song):
    assert song.bars == 8 and song.chart.total_beats == 32
    assert [s.chord.symbol for s in song.solo.chords][:4] == ["Dm7", "G7", "Cmaj7", "Cmaj7"]
    assert song.solo.notes and song.solo.notes[-1].end_beat <= 32 + 1e-9
    assert [p.name for p in song.parts] == ["chords", "bass", "drums"]


def test_same_seed_same_performance_and_files_read_back(song, tmp_path):
    again = jazzgen.generate(chords=CHANGES, bars=8, seed=3)
    assert again.midi_bytes() == song.midi_bytes()
    assert jazzgen.generate(chords=CHANGES, bars=8, seed=4).midi_bytes() != song.midi_bytes()
    path = song.write_midi(tmp_path / "song.mid")
    back = read_score(path)  # the solo stays on the track named melody, the symbols on chords
    assert back.meta["melody_track"] == "melody" and back.meta["chord_source"] == "markers"
    assert [n.pitch for n in back.notes] == [n.pitch for n in song.solo.notes]
    assert [s.chord.symbol for s in back.chords][:3] == ["Dm7", "G7", "Cmaj7"]


def test_chart_without_bars_plays_its_form_once_and_wjd_spellings_come_out_lead_sheet_style():
    song = jazzgen.generate(chords="Ebj7 | E-7 A7 | Abo7 | Ebsus7", seed=0, band="none")
    assert song.bars == 4
    markers = [m for m in _markers(song.midi_bytes())]
    assert markers == ["Ebmaj7", "Em7", "A7", "Abo7", "Eb7sus4"]


def _markers(data: bytes) -> list[str]:
    import io

    import mido

    return [m.text for t in mido.MidiFile(file=io.BytesIO(data)).tracks for m in t if m.type == "marker"]


@pytest.mark.parametrize("name", ["tenor sax", "trombone", "flute"])
def test_the_decoder_keeps_the_instrument_range(name):
    inst = INSTRUMENTS[name]
    song = jazzgen.generate(chords=CHANGES, bars=16, seed=1, instrument=name, band="none")
    pitches = [n.pitch for n in song.solo.notes]
    assert inst.low <= min(pitches) and max(pitches) <= inst.high
    assert song.instrument.program == inst.program


def test_instrument_names_and_programs():
    assert find_instrument("Alto").name == "alto sax" and find_instrument(56).name == "trumpet"
    assert find_instrument("5").program == 5
    with pytest.raises(UsageError, match="kazoo"):
        find_instrument("kazoo")


def test_velocities_follow_accent_and_phrase(song):
    velocities = np.array([n.velocity for n in song.solo.notes])
    assert velocities.std() > 4 and len(set(velocities)) > 5
    # A phrase of eighths up to a peak and down again, a rest, then the same phrase a beat later.
    line = [60, 62, 64, 67, 69, 67, 64, 62]
    notes = [Note(p, 0.5 * k, 0.5) for k, p in enumerate(line)] + \
            [Note(p, 9 + 0.5 * k, 0.5) for k, p in enumerate(line)]
    shaped = shape_dynamics(notes, beats_per_bar=4.0)
    first, second = [n.velocity for n in shaped[:8]], [n.velocity for n in shaped[8:]]
    assert first[4] == max(first) and first[0] < first[4] > first[7]  # the arc peaks at the top note
    assert first[0] > second[0]  # the same note on a downbeat is louder than on beat 2


def test_key_transposes_the_changes():
    song = jazzgen.generate(chords="key: C\n| Dm7 | G7 | Cmaj7 |", key="Eb", seed=0, band="none")
    assert [spell for spell in (s.chord.symbol for s in song.solo.chords)] == ["Fm7", "Bb7", "Ebmaj7"]
    assert song.chart.key == "Eb"


def test_tempo_time_style_and_swing_options():
    song = jazzgen.generate(chords="C7 | F7", time="3/4", tempo=200, seed=0)
    assert song.chart.time_signature == (3, 4) and song.tempo_qpm == 200 and song.swing < 1.6
    waltz = jazzgen.generate(chords="C7 | F7", style="waltz", seed=0)
    assert waltz.chart.time_signature == (3, 4)
    bossa = jazzgen.generate(chords="C7 | F7", style="bossa", seed=0)
    assert bossa.swing == 1.0 and bossa.tempo_qpm == 140


def test_tune_by_name_and_corpus_changes_say_which_tune():
    song = jazzgen.generate(tune="all the things", bars=4, seed=0, band="none")
    assert song.chart.title == "All the Things You Are" and song.bars == 4
    picked = jazzgen.generate(seed=2, bars=4, band="none")
    assert picked.description.startswith("the changes of ")


@pytest.mark.parametrize("kwargs, words", [
    ({"chords": "Dm7 | H7"}, "bar 2: unknown chord symbol 'H7'"),
    ({"chords": "C", "tune": "Oleo"}, "one way"),
    ({"tune": "Impressions Of Nothing"}, "no such tune"),
    ({"chords": "C", "band": "quartet"}, "--band"),
    ({"chords": "C", "swing": 0.5}, "--swing"),
    ({"chords": "C", "key": "H"}, "--key"),
    ({"chords": "C", "time": "7/5"}, "--time"),
])
def test_bad_options_are_one_line_errors(kwargs, words):
    with pytest.raises((UsageError, ChartError), match=words.replace("(", r"\(")):
        jazzgen.generate(**kwargs)


def test_primer_that_leaves_nothing_to_continue_says_how_many_bars_to_add(tmp_path):
    primer = jazzgen.generate(chords="Dm7 | G7", seed=0, band="none").write_midi(tmp_path / "p.mid")
    with pytest.raises(UsageError, match=r"--bars 3"):
        jazzgen.generate(chords="Dm7 | G7", primer=primer, seed=0)
    song = jazzgen.generate(chords="Dm7 | G7", primer=primer, bars=4, seed=0)
    assert song.solo.notes[-1].end_beat > 8


def test_read_chart_from_a_file_names_it_in_errors(tmp_path):
    path = tmp_path / "tune.txt"
    path.write_text("title: T\n| C7 | F7 |\n| H7 |\n")
    with pytest.raises(ChartError, match=r"tune.txt: bar 3: unknown chord symbol 'H7'"):
        jazzgen.read_chart(path)
    path.write_text("title: T\n| C7 | F7 |\n")
    assert jazzgen.read_chart(path).title == "T"
    song = jazzgen.generate(chart=path, seed=0, band="bass")
    assert song.title == "T" and [p.name for p in song.parts] == ["bass"]


@pytest.mark.slow
def test_preprocess_train_evaluate_generate_from_python(tmp_path):
    root = __import__("pathlib").Path(__file__).parent.parent
    tiny = root / "pipelines" / "tiny.toml"
    sources = [root / "data" / "midi" / "wjd" / name for name in
               ("ArtPepper_Anthropology.mid", "CharlieParker_Ornithology.mid", "MilesDavis_Airegin.mid")]
    summary = jazzgen.preprocess(sources, tmp_path / "corpus", pipeline=str(tiny))
    assert summary
    result = jazzgen.train(tmp_path / "corpus", tmp_path / "run", pipeline=str(tiny), epochs=1)
    assert result.stopped_because
    report = jazzgen.evaluate(tmp_path / "run", samples=1)
    assert report["loss"] > 0
    song = jazzgen.generate(model=tmp_path / "run", bars=4, seed=1)
    assert song.solo.notes and song.description.startswith("the changes of ")
