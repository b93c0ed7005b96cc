"""The command line end to end on tiny configs: preprocess -> train -> generate, and its errors."""

import shutil
import subprocess
import sys
from pathlib import Path

import pretty_midi
import pytest
from click.testing import CliRunner

from jazzgen.cli import main
from jazzgen.music.charts import spell
from jazzgen.music.chords import parse_chord
from jazzgen.music.midi_io import read_midi
from jazzgen.music.tracks import score_from_midi

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "pipelines" / "tiny.toml")
WJD = ROOT / "data" / "midi" / "wjd"
SOLOS = ["ArtPepper_Anthropology.mid", "CharlieParker_Ornithology.mid", "JohnColtrane_GiantSteps-1.mid",
         "MilesDavis_Airegin.mid", "DavidLiebman_Milestones.mid"]

pytestmark = pytest.mark.slow


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    src = tmp / "src"
    src.mkdir()
    available = [s for s in SOLOS if (WJD / s).is_file()]
    assert len(available) >= 3, "bundled corpus missing"
    for name in available:
        shutil.copy(WJD / name, src / name)
    (src / "broken.mid").write_bytes(b"MThd garbage")
    r = invoke("preprocess", src, "-o", tmp / "corpus")
    assert r.exit_code == 0, r.output
    assert f"{len(available)} kept, 1 skipped" in r.output
    r = invoke("train", tmp / "corpus", "-o", tmp / "run", "--pipeline", TINY)
    assert r.exit_code == 0, r.output
    return tmp


def test_generate_writes_valid_two_track_midi(tiny_run):
    out = tiny_run / "gen" / "solo.mid"
    r = invoke("generate", tiny_run / "run", "-o", out, "--bars", 8, "-n", 2, "--seed", 4)
    assert r.exit_code == 0, r.output
    for path in (out.with_name("solo-1.mid"), out.with_name("solo-2.mid")):
        pm = pretty_midi.PrettyMIDI(str(path))
        tracks = {i.name: i for i in pm.instruments}
        assert set(tracks) == {"melody", "chords", "bass", "drums"}  # the solo over the default trio
        notes = sorted(tracks["melody"].notes, key=lambda n: n.start)
        assert notes and all(b.start >= a.end - 1e-3 for a, b in zip(notes, notes[1:]))  # monophonic
        assert all(36 <= n.pitch <= 96 for n in notes)
        assert tracks["chords"].notes


def test_same_seed_same_bytes_and_backends_agree(tiny_run):
    paths = {}
    for name, seed, backend in (("a", 9, "numpy"), ("b", 9, "numpy"), ("c", 10, "numpy"), ("k", 9, "keras")):
        paths[name] = tiny_run / f"{name}.mid"
        r = invoke("generate", tiny_run / "run", "-o", paths[name], "--bars", 8, "--seed", seed, "--backend", backend)
        assert r.exit_code == 0, r.output
    data = {k: p.read_bytes() for k, p in paths.items()}
    assert data["a"] == data["b"] and data["a"] != data["c"]
    assert data["a"] == data["k"]


@pytest.mark.parametrize("changes", ["Bb7 | F-7 | Ebj7 | Dm7 G7 | N.C.",
                                     "Bb7 | Eb7 | Bb7 | Fm7 Bb7 | Eb7 | Edim7 | Bb7 G7 | Cm7 F7"])
def test_typed_changes_are_the_chords_track(tiny_run, changes):
    out = tiny_run / "typed.mid"
    r = invoke("generate", tiny_run / "run", "-o", out, "--chords", changes, "--seed", 1)
    assert r.exit_code == 0, r.output
    score = score_from_midi(read_midi(out), out)
    want = []
    for bar, text in enumerate(changes.split("|")):
        symbols = text.split()
        want += [(spell(parse_chord(sym)), bar * 4.0 + k * 4.0 / len(symbols)) for k, sym in enumerate(symbols)]
    assert [(s.chord.symbol, s.start_beat) for s in score.chords] == want
    assert score.notes[-1].end_beat <= 4.0 * len(changes.split("|")) + 1e-6  # the solo ends with the changes


@pytest.mark.parametrize("args, words", [
    (["generate", "-o", "x.mid", "--bars", "0"], "--bars must be > 0"),
    (["generate", "-o", "x.mid", "--temperature", "0"], "--temperature must be > 0"),
    (["generate", "-o", "x.mid", "--chords", "Bb7 | Qzz9"], "Qzz9"),
    (["train", "nowhere", "-o", "run"], "not a corpus directory"),
    (["train", "nowhere", "-o", "run", "--set", "train.epochz=1"], "train.epochz"),
    (["preprocess", "no/such/folder", "-o", "c"], "no such file or folder"),
])
def test_bad_arguments_exit_2_with_one_line(args, words, tiny_run, monkeypatch):
    monkeypatch.chdir(tiny_run)
    if args[0] == "generate":
        args = ["generate", str(tiny_run / "run"), *args[1:]]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert words in r.output and "Traceback" not in r.output


def test_help_does_not_import_tensorflow():
    code = ("import sys; from jazzgen.cli import main; sys.argv=['jazzgen','--help']\n"
            "try: main()\nexcept SystemExit: pass\nprint('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_run_tiny_pipeline_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(ROOT / "data")  # the recipe names bundled files relative to the root
    r = invoke("run", TINY)
    assert r.exit_code == 0, r.output
    tail = r.output[r.output.index("wrote 1 solo"):]  # an evaluation follows, judging that solo
    assert "held-out:" in tail and "music: 1 given sample vs" in tail
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "runs" / "tiny" / "samples" / "solo.mid"))
    assert {i.name for i in pm.instruments} == {"melody", "chords", "bass", "drums"}
    assert (tmp_path / "runs" / "tiny" / "curves.png").is_file()
