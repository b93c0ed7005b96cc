"""Hostile files and disks: special files, size limits, full and read-only disks, folders as outputs.

Every reader must refuse what is not a regular file (a FIFO would block it forever, a link to
/dev/zero would feed it without end) and read at most its size limit (a huge sparse file costs
no disk but would cost its size in memory or time). Readers run in a child process with a time
limit and an address-space limit, so a regression fails the test instead of hanging or
exhausting the machine. Full and read-only disks are tmpfs mounts (root only, else skipped).
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
    WJD,
    cli_error,
    invoke,
    jazzgen,
    one_line_error,
    run_child,
    special_file,
    tiny_corpus,
)

KINDS = {"fifo": "not a regular file", "zero": "not a regular file", "sparse": "too long"}

# Each reader on the same special file: prints one JSON line {reader: "reason" or "read"}.
READERS = """
import json, sys
from pathlib import Path
from jazzgen.config import PreprocessConfig
from jazzgen.errors import JazzgenError
from jazzgen.music.midi_io import read_midi
from jazzgen.music.musicxml import read_musicxml
from jazzgen.music.pipeline import read_score
from jazzgen.music.preprocess import _cache_key
from jazzgen.text.readers import read_text

path = Path(sys.argv[1])
out = {}
for name, call in [("midi", lambda: read_midi(path)), ("musicxml", lambda: read_musicxml(path)),
                   ("text", lambda: read_text(path)), ("score", lambda: read_score(path)),
                   ("cache_key", lambda: _cache_key(path, PreprocessConfig()))]:
    try:
        call()
        out[name] = "read"
    except JazzgenError as e:
        out[name] = getattr(e, "reason", str(e))
print(json.dumps(out))
"""


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_reader_refuses_special_and_oversize_files(kind: str, tmp_path: Path) -> None:
    path = special_file(kind, tmp_path, "input.mid")
    r = run_child(["-c", READERS, str(path)], tmp_path)
    assert r.returncode == 0, r.stderr
    reasons = json.loads(r.stdout.splitlines()[-1])
    assert reasons == dict.fromkeys(["midi", "musicxml", "text", "score", "cache_key"], KINDS[kind])


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_preprocess_named_special_file_is_skipped_with_its_reason(kind: str, tmp_path: Path) -> None:
    """Named directly (no folder listing to filter it), the file reaches the cache key first."""
    special_file(kind, tmp_path, "z.mid")
    r = jazzgen("preprocess", "z.mid", "-o", "corpus", cwd=tmp_path, limit_memory=True)
    one_line_error(r, 1, "no usable music")
    assert f"skipped z.mid: {KINDS[kind]}" in r.stdout


def test_special_files_in_a_folder_are_named_not_read(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(WJD / GOOD, src / GOOD)
    special_file("fifo", src, "fifo.mid")
    special_file("zero", src, "zero.mid")
    r = jazzgen("preprocess", "src", "-o", "corpus", cwd=tmp_path, limit_memory=True)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "corpus" / "manifest.json").read_text())
    skipped = {Path(row["file"]).name: row["reason"] for row in manifest["skipped"]}
    assert skipped == {"fifo.mid": "not a regular file", "zero.mid": "not a regular file"}


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_text_preprocess_refuses_special_file(kind: str, tmp_path: Path) -> None:
    special_file(kind, tmp_path, "names.txt")
    r = jazzgen("preprocess", "names.txt", "--task", "chars", "-o", "corpus", cwd=tmp_path, limit_memory=True)
    one_line_error(r, 1, "names.txt", "not a regular file")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_generate_primer_render_and_evaluate_refuse_special_files(kind: str, tmp_path: Path) -> None:
    special_file(kind, tmp_path, "p.mid")
    r = jazzgen("generate", "-o", "solo.mid", "--bars", "4", "--primer", "p.mid", cwd=tmp_path, limit_memory=True)
    one_line_error(r, 1, "p.mid", KINDS[kind])
    assert not (tmp_path / "solo.mid").exists()
    r = jazzgen("render", "p.mid", cwd=tmp_path, limit_memory=True)
    one_line_error(r, 1, "p.mid", KINDS[kind])
    r = jazzgen("evaluate", ROOT / "jazzgen" / "assets" / "default_model", "p.mid", "--json", cwd=tmp_path,
                limit_memory=True)
    assert f"p.mid: {KINDS[kind]}" in r.stderr + r.stdout and "Traceback" not in r.stderr


# --------------------------------------------------------------------------------------------
# Full and read-only disks: tmpfs mounts (root only), and an output path that is a folder


@pytest.fixture
def tmpfs(tmp_path: Path):
    """mount(name, size) -> a fresh tmpfs folder; unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("full and read-only disks are tmpfs mounts, which need root")
    mounted: list[Path] = []

    def mount(name: str, size: str = "4m") -> Path:
        path = tmp_path / name
        path.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount tmpfs here: {r.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def _read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def _fill(path: Path) -> None:
    """Write until the disk is full (ENOSPC), leaving not one free block."""
    import errno

    try:
        with open(path / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError as e:
        assert e.errno == errno.ENOSPC


def _commands(disk: Path, tmp_path: Path) -> dict[str, list]:
    """One writing command per stage, each writing under `disk`."""
    names = tmp_path / "names.txt"
    names.write_text("ada\nbob\ncy\n" * 5)
    tiny_corpus(tmp_path / "corpus")
    return {
        "generate": ["generate", "-o", disk / "solo.mid", "--bars", "2"],
        "preprocess": ["preprocess", WJD / GOOD, "-o", disk / "corpus"],
        "text preprocess": ["preprocess", names, "--task", "chars", "-o", disk / "text"],
        "train": ["train", tmp_path / "corpus", "-o", disk / "run", "--set", "model.units=4"],
        "render": ["render", disk / "in.mid", "--no-png"],
    }


@pytest.mark.parametrize("command", ["generate", "preprocess", "text preprocess", "train", "render"])
def test_read_only_output_is_one_line(command: str, tmpfs, tmp_path: Path) -> None:
    disk = tmpfs("ro")
    shutil.copy(WJD / GOOD, disk / "in.mid")
    args = _commands(disk, tmp_path)[command]
    _read_only(disk)
    r = jazzgen(*args, cwd=tmp_path, timeout=300)
    one_line_error(r, 1, str(disk), "Read-only file system")


@pytest.mark.parametrize("command", ["generate", "preprocess", "text preprocess", "train", "render"])
def test_full_disk_is_one_line_and_leaves_nothing_half_written(command: str, tmpfs, tmp_path: Path) -> None:
    disk = tmpfs("full", "1m")
    shutil.copy(WJD / GOOD, disk / "in.mid")
    args = _commands(disk, tmp_path)[command]
    _fill(disk)
    r = jazzgen(*args, cwd=tmp_path, timeout=300)
    one_line_error(r, 1, str(disk), "No space left on device")
    assert list(disk.rglob("*.tmp")) == []


def test_full_disk_keeps_the_old_corpus(tmpfs, tmp_path: Path) -> None:
    """A re-preprocess that runs out of space leaves the corpus that was there readable."""
    from jazzgen.core.corpus import read_corpus

    disk = tmpfs("full", "2m")
    r = jazzgen("preprocess", WJD / GOOD, "-o", disk / "corpus", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    before = read_corpus(disk / "corpus").hash
    _fill(disk)
    r = jazzgen("preprocess", *[WJD / s for s in SOLOS], "-o", disk / "corpus", cwd=tmp_path)
    one_line_error(r, 1, "No space left on device")
    assert read_corpus(disk / "corpus").hash == before


@pytest.mark.parametrize("args, folder", [
    (["generate", "-o", "out.mid", "--bars", "2"], "out.mid"),
    (["render", "in.mid", "--no-png"], "in.wav"),
    (["render", "in.mid", "--no-wav"], "in.png"),
])
def test_output_path_that_is_a_folder_is_a_usage_error(args, folder: str, tmp_path: Path, monkeypatch) -> None:
    shutil.copy(WJD / GOOD, tmp_path / "in.mid")
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "keep").write_text("mine")
    monkeypatch.chdir(tmp_path)
    cli_error(invoke(*args), 2, folder)
    assert (tmp_path / folder / "keep").read_text() == "mine"
    assert list(tmp_path.rglob("*.tmp")) == []


def test_text_samples_into_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    from jazzgen.cli import reports_errors
    from jazzgen.text.inference import write_samples

    (tmp_path / "samples").mkdir()
    with pytest.raises(SystemExit) as stop:
        reports_errors(write_samples)(["a sample"], tmp_path / "samples", echo=lambda line: None)
    assert stop.value.code == 2


def test_sample_benchmark_times_what_the_cli_runs(tmp_path: Path) -> None:
    """The CLI pins OpenBLAS to one thread; the sampling benchmark must measure the same."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["PYTHONPATH"] = str(ROOT)
    r = subprocess.run([sys.executable, "sample_throughput.py", "--backends", "numpy", "--batches", "1",
                        "--steps", "4", "--repeats", "1", "--random", "--vocab", "40"],
                       cwd=ROOT / "benchmarks", env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["blas_threads"] == "1"
    assert result["numpy"]["batch_1"]["values_per_s"] > 0
