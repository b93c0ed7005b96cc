"""Hostile state: two writers at once, damaged corpora and runs, bad settings, Ctrl-C, and
the smaller things a new user trips over. Every case ends in one line, never a traceback or a
silent loss of work.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_support import (
    GOOD,
    ROOT,
    SOLOS,
    TINY,
    WJD,
    cli_error,
    invoke,
    jazzgen,
    one_line_error,
    tiny_corpus,
)

# --------------------------------------------------------------------------------------------
# Never lose work: locks, whole-corpus swaps, hashes checked on read


@pytest.mark.parametrize("command", ["train", "preprocess", "merge-corpora"])
def test_second_writer_is_refused_and_names_the_holder(command: str, tmp_path: Path) -> None:
    from jazzgen.core.lock import dir_lock

    tiny_corpus(tmp_path / "corpus")
    target = tmp_path / "out"
    args = {"train": ["train", tmp_path / "corpus", "-o", target, "--resume"],
            "preprocess": ["preprocess", WJD / GOOD, "-o", target],
            "merge-corpora": ["merge-corpora", tmp_path / "corpus", "-o", target]}[command]
    with dir_lock(target, "train"):
        in_flight = target / ".export.npz.abc.tmp"  # the holder's file being written
        in_flight.write_bytes(b"half")
        r = jazzgen(*args, cwd=tmp_path)
        one_line_error(r, 2, str(target), "in use by jazzgen train", f"pid {os.getpid()}")
        assert in_flight.read_bytes() == b"half"
    assert sorted(p.name for p in target.iterdir()) == [".export.npz.abc.tmp", ".jazzgen.lock"]


def test_lock_is_released_by_a_killed_holder_and_its_temporaries_removed(tmp_path: Path) -> None:
    """SIGKILL ends the holder: its lock goes with it, the next writer clears what it left."""
    import signal

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from jazzgen.core.lock import dir_lock\n"
        "with dir_lock(sys.argv[1], 'preprocess'):\n"
        "    open(sys.argv[1] + '/cache/.k.json.tmp', 'w').write('half')\n"
        "    print('held', flush=True); time.sleep(600)"), str(tmp_path / "corpus")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    (tmp_path / "corpus" / "cache").mkdir(parents=True)
    assert holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    (tmp_path / "corpus" / ".corpus-x.tmp").mkdir()  # a staging folder a kill left behind
    r = jazzgen("preprocess", WJD / GOOD, "-o", "corpus", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    left = [p.name for p in (tmp_path / "corpus").rglob("*.tmp")]
    assert left == []


def test_failed_rewrite_leaves_the_old_corpus_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from jazzgen.core import corpus as corpus_module

    old = tiny_corpus(tmp_path / "c", n_pieces=6, seed=1)
    before = {p.name: p.read_bytes() for p in (tmp_path / "c").iterdir() if p.is_file()}
    real = corpus_module.write_json

    def full_disk(path, obj):
        if Path(path).name == "manifest.json":  # late: ids, offsets, vocab and pieces are written
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, obj)

    monkeypatch.setattr(corpus_module, "write_json", full_disk)
    with pytest.raises(OSError):
        tiny_corpus(tmp_path / "c", n_pieces=9, seed=2)
    after = {p.name: p.read_bytes() for p in (tmp_path / "c").iterdir() if p.is_file()}
    assert after == before
    assert corpus_module.read_corpus(tmp_path / "c").hash == old["hash"]
    assert [p.name for p in (tmp_path / "c").iterdir() if p.is_dir()] == []  # no staging left


def _mixed(tmp_path: Path, names: tuple[str, ...]) -> Path:
    """Corpus A with `names` taken from corpus B: files of two different writes."""
    tiny_corpus(tmp_path / "a", n_pieces=6, seed=1)
    tiny_corpus(tmp_path / "b", n_pieces=6, seed=2)
    for name in names:
        shutil.copy(tmp_path / "b" / name, tmp_path / "a" / name)
    return tmp_path / "a"


@pytest.mark.parametrize("names, culprit", [
    (("ids.npy",), "ids.npy"),
    (("pieces.jsonl",), "pieces.jsonl"),
    (("vocab.json",), "vocab.json"),
])
def test_corpus_files_of_different_writes_are_refused(names, culprit, tmp_path: Path) -> None:
    """Same vocabulary, same lengths: only the stored hashes tell the writes apart."""
    from jazzgen.core.corpus import read_corpus
    from jazzgen.errors import InputError

    a = _mixed(tmp_path, names)
    if culprit == "vocab.json":  # another vocabulary: make one that differs
        (a / "vocab.json").write_text(json.dumps({"tokens": ["<pad>", "x"]}))
    with pytest.raises(InputError, match=culprit):
        read_corpus(a)
    cli_error(invoke("train", a, "-o", tmp_path / "run"), 1, culprit)
    assert not (tmp_path / "run").exists()


def test_ids_outside_the_vocabulary_are_refused(tmp_path: Path) -> None:
    """A corpus whose hash matches (written that way) but whose ids exceed the vocabulary."""
    import numpy as np

    from jazzgen.core.corpus import write_corpus
    from jazzgen.core.vocab import Vocab

    vocab = Vocab.from_tokens(["a", "b"])
    write_corpus(tmp_path / "c", "jazz", {"name": "values"}, vocab, [["a", "b"] * 10] * 3,
                 [{"source": "p", "chords": []}] * 3, {"kept": [], "skipped": []})
    ids = np.load(tmp_path / "c" / "ids.npy")
    ids[3] = len(vocab) + 5
    np.save(tmp_path / "c" / "ids.npy", ids)
    info = json.loads((tmp_path / "c" / "corpus.json").read_text())
    import hashlib

    offsets = np.load(tmp_path / "c" / "offsets.npy")
    info["hash"] = hashlib.sha256(vocab.hash.encode() + ids.tobytes() + offsets.tobytes()).hexdigest()[:16]
    (tmp_path / "c" / "corpus.json").write_text(json.dumps(info))
    cli_error(invoke("train", tmp_path / "c", "-o", tmp_path / "run"), 1, "ids.npy", "outside the vocabulary")


CORRUPTIONS = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"\x93NUMPY garbage \x00\xff" * 7,
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("name", ["ids.npy", "offsets.npy", "pieces.jsonl", "vocab.json", "corpus.json"])
@pytest.mark.parametrize("damage", sorted(CORRUPTIONS))
def test_damaged_corpus_file_is_one_line(name: str, damage: str, tmp_path: Path) -> None:
    tiny_corpus(tmp_path / "c")
    path = tmp_path / "c" / name
    path.write_bytes(CORRUPTIONS[damage](path.read_bytes()))
    cli_error(invoke("train", tmp_path / "c", "-o", tmp_path / "run"), 1, name)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["ids.npy", "offsets.npy", "pieces.jsonl", "vocab.json"])
def test_missing_corpus_file_is_one_line(name: str, tmp_path: Path) -> None:
    tiny_corpus(tmp_path / "c")
    (tmp_path / "c" / name).unlink()
    cli_error(invoke("train", tmp_path / "c", "-o", tmp_path / "run"), 1, name, "missing file")


def test_merge_output_may_not_be_an_input(tmp_path: Path) -> None:
    tiny_corpus(tmp_path / "part")
    before = (tmp_path / "part" / "ids.npy").read_bytes()
    cli_error(invoke("merge-corpora", tmp_path / "part", "-o", tmp_path / "part" / "."), 2, "one of the parts")
    assert (tmp_path / "part" / "ids.npy").read_bytes() == before


# --------------------------------------------------------------------------------------------
# A trained run, damaged in every way a disk or a user can damage it



@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A tiny run trained without validation data and a time limit far shorter than one epoch."""
    tmp = tmp_path_factory.mktemp("trained")
    r = jazzgen("preprocess", *[WJD / s for s in SOLOS], "-o", "corpus", cwd=tmp)
    assert r.returncode == 0, r.stderr
    r = jazzgen("train", "corpus", "-o", "run", "--pipeline", TINY, "--set", "data.val_fraction=0",
                "--set", "train.batch_size=2", "--set", "train.max_minutes=0.000001", cwd=tmp, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return tmp, r


def test_training_output_is_honest_and_quiet(trained) -> None:
    """No TensorFlow start-up chatter, the time limit stops inside the first (long) epoch, and no
    validation loss is claimed without validation data."""
    _, r = trained
    assert r.stderr.strip() == "", r.stderr  # absl's "All log messages before ..." and oneDNN's notice
    assert "time limit: epoch cut short after" in r.stdout, r.stdout
    assert "best val loss" not in r.stdout and "no validation data; best training loss" in r.stdout, r.stdout
    assert "epoch 2/" not in r.stdout


def _damage_run(tmp_path: Path, trained_dir: Path, damage) -> Path:
    run = tmp_path / "run"
    shutil.copytree(trained_dir / "run", run)
    damage(run)
    return run


def _resave(run: Path, change) -> None:
    import numpy as np

    with np.load(run / "export.npz") as data:
        arrays = dict(data)
    change(arrays)
    with open(run / "export.npz", "wb") as f:
        np.savez(f, **arrays)


RUN_DAMAGE = {
    "export truncated": (lambda run: (run / "export.npz").write_bytes((run / "export.npz").read_bytes()[:200]),
                         "export.npz"),
    "export empty": (lambda run: (run / "export.npz").write_bytes(b""), "export.npz"),
    "export garbage": (lambda run: (run / "export.npz").write_bytes(b"garbage\n" * 20), "export.npz"),
    "export wrong shapes": (lambda run: _resave(run, lambda a: a.update({"head/kernel": a["head/kernel"][:, :5]})),
                            "export.npz"),
    "export missing key": (lambda run: _resave(run, lambda a: a.pop("head/bias")), "export.npz"),
    "export unknown format": (lambda run: _resave(run, lambda a: a.update(format=a["format"] * 0 + 99)),
                              "unknown export format"),
    "export NaN weights": (lambda run: _resave(run, lambda a: a.update({"head/bias": a["head/bias"] * float("nan")})),
                           "export.npz"),
    "config truncated": (lambda run: (run / "config.json").write_text('{"model": {'), "config.json"),
    "config missing": (lambda run: (run / "config.json").unlink(), "config.json"),
    "vocab truncated": (lambda run: (run / "vocab.json").write_text('{"tokens": ["a"'), "vocab.json"),
    "vocab missing": (lambda run: (run / "vocab.json").unlink(), "vocab.json"),
    "task truncated": (lambda run: (run / "task.json").write_text("{"), "task.json"),
    "task missing": (lambda run: (run / "task.json").unlink(), "task.json"),
    "run.json truncated": (lambda run: (run / "run.json").write_text('{"format": 1, '), "run.json"),
    "run.json a list": (lambda run: (run / "run.json").write_text("[]"), "run.json"),
}


@pytest.mark.parametrize("damage", sorted(RUN_DAMAGE))
def test_damaged_run_is_one_line_in_generate_and_evaluate(damage: str, trained, tmp_path: Path) -> None:
    change, culprit = RUN_DAMAGE[damage]
    run = _damage_run(tmp_path, trained[0], change)
    cli_error(invoke("generate", run, "-o", tmp_path / "solo.mid", "--bars", "2"), 1, culprit)
    assert not (tmp_path / "solo.mid").exists()
    cli_error(invoke("evaluate", run, "--samples", "1", "--corpus", trained[0] / "corpus"), 1, culprit)


def test_damaged_checkpoint_on_resume_is_one_line(trained, tmp_path: Path) -> None:
    run = _damage_run(tmp_path, trained[0], lambda run: (run / "checkpoint.npz").write_bytes(b"PK\x03\x04 cut"))
    r = jazzgen("train", trained[0] / "corpus", "-o", run, "--resume", "--pipeline", TINY,
                "--set", "data.val_fraction=0", "--set", "train.batch_size=2", "--epochs", "3", cwd=tmp_path,
                timeout=300)
    one_line_error(r, 1, "checkpoint.npz", "damaged")


def test_plurals_and_text_output_names(tmp_path: Path) -> None:
    from jazzgen.errors import UsageError
    from jazzgen.text.inference import write_samples

    r = invoke("generate", "-o", tmp_path / "one.mid", "--bars", "1")
    assert r.exit_code == 0, r.output
    assert "wrote 1 solo of 1 bar over" in r.output
    with pytest.raises(UsageError, match="x.mid"):  # a text run's samples are no MIDI file
        write_samples(["a sample"], tmp_path / "x.mid", echo=lambda line: None)
    assert not (tmp_path / "x.mid").exists()
    lines = []
    write_samples(["a sample"], tmp_path / "x.txt", echo=lines.append)
    assert lines == [f"wrote 1 sample to {tmp_path / 'x.txt'}"]


def test_predict_on_a_jazz_run_points_nowhere_wrong() -> None:
    r = invoke("predict", ROOT / "jazzgen" / "assets" / "default_model", "some words")
    cli_error(r, 2, "predict")
    assert "--sentence" not in r.output


def test_sigint_during_preprocess_exits_130_with_one_line(tmp_path: Path) -> None:
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "jazzgen", "preprocess", str(WJD), "-o", "corpus",
                             "--workers", "2"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                            # Ctrl-C as a terminal delivers it, even where the suite runs in the
                            # background (started with SIGINT ignored, which children inherit)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    cache = tmp_path / "corpus" / "cache"
    t0 = time.time()
    while not (cache.is_dir() and any(cache.iterdir())):  # some files read: mid-way
        assert proc.poll() is None and time.time() - t0 < 120, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C does: the worker processes get it too
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert err.strip().startswith("interrupted: jazzgen preprocess") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "corpus" / "corpus.json").exists()
    assert list(tmp_path.rglob("*.tmp")) == []


# --------------------------------------------------------------------------------------------
# Bad settings: one usage line before any work, and nothing written

BUNDLED = ROOT / "jazzgen" / "assets" / "default_model"


@pytest.mark.parametrize("args, words", [
    (["generate", "-o", "x.mid", "--seed", "-1"], "--seed"),
    (["generate", "-o", "x.mid", "--temperature", "nan"], "--temperature"),
    (["generate", "-o", "x.mid", "--set", "generate.temperature=1e999"], "--temperature"),
    (["generate", "-o", "x.mid", "--length", "0"], "--length"),
    (["generate", "-o", "x.mid", "--chords", ""], "--chords"),
    (["generate", "-o", "x.mid", "--chords", " | "], "--chords"),
    (["generate", "-o", "x.mid", "-n", "-2"], "-n"),
    (["evaluate", BUNDLED, "--seed", "-1"], "--seed"),
    (["evaluate", BUNDLED, "--samples", "-1"], "--samples"),
    (["train", "corpus", "-o", "run", "--set", "train.threads=-1"], "train.threads"),
    (["train", "corpus", "-o", "run", "--set", "model.units=0"], "units"),
    (["train", "corpus", "-o", "run", "--set", "model.layers=0"], "layers"),
    (["train", "corpus", "-o", "run", "--set", "model.dropout=1.5"], "dropout"),
    (["train", "corpus", "-o", "run", "--set", "train.max_minutes=-1"], "train.max_minutes"),
    (["train", "corpus", "-o", "run", "--set", "train.learning_rate=NaN"], "train.learning_rate"),
    (["preprocess", WJD / GOOD, "-o", "c", "--workers", "-1"], "--workers"),
    (["preprocess", WJD / GOOD, "-o", "c", "--set", "preprocess.max_file_mb=0"], "preprocess.max_file_mb"),
])
def test_bad_settings_are_usage_errors_before_any_work(args, words, tmp_path: Path, monkeypatch) -> None:
    tiny_corpus(tmp_path / "corpus")
    monkeypatch.chdir(tmp_path)
    if args[0] == "train":  # in a child: a setting that reached TensorFlow could abort the process
        one_line_error(jazzgen(*args, cwd=tmp_path), 2, words)
    else:
        cli_error(invoke(*args), 2, words)
    assert not (tmp_path / "x.mid").exists() and not (tmp_path / "run").exists()
    assert not (tmp_path / "c").exists()
