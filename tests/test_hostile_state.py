"""Hostile machine state: special files, size limits, and what a fresh machine lacks.

Every reader must refuse what is not a regular file (a FIFO would block it forever, a link to
/dev/zero would feed it without end) and read at most its size limit (a sparse 2 GB file costs
no disk but would cost 2 GB of memory). Readers run in a child process with a time limit and an
address-space limit, so a regression fails the test instead of hanging or exhausting the machine.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WJD = ROOT / "data" / "midi" / "wjd"
GOOD = "ArtPepper_Anthropology.mid"
MEMORY_LIMIT = 3 << 30  # bytes of address space a child may map: far below what /dev/zero would take


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_child(args: list[str], cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    """Run a Python child with this tree on its path, a time limit and a memory limit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    try:
        return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} did not finish within {timeout} s (blocked on a special file?)")


def jazzgen(*args, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    return run_child(["-m", "jazzgen", *map(str, args)], cwd, timeout)


def one_line_error(r: subprocess.CompletedProcess, code: int, *words: str) -> None:
    """The command failed with `code` and one `error:` line naming `words`, no traceback."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.stderr
    for word in words:
        assert word in errors[0], errors[0]


def special_file(kind: str, folder: Path, name: str) -> Path:
    """A FIFO, a link to /dev/zero or a sparse 1 TB file (no disk blocks) named `name` in `folder`."""
    path = folder / name
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    else:
        with open(path, "wb") as f:
            f.truncate(1 << 40)  # hashing it whole would take far longer than the time limit
    return path


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
    r = jazzgen("preprocess", "z.mid", "-o", "corpus", cwd=tmp_path)
    one_line_error(r, 1, "no usable music")
    assert f"skipped z.mid: {KINDS[kind]}" in r.stdout


def test_special_files_in_a_folder_are_named_not_read(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(WJD / GOOD, src / GOOD)
    special_file("fifo", src, "fifo.mid")
    special_file("zero", src, "zero.mid")
    r = jazzgen("preprocess", "src", "-o", "corpus", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "corpus" / "manifest.json").read_text())
    skipped = {Path(row["file"]).name: row["reason"] for row in manifest["skipped"]}
    assert skipped == {"fifo.mid": "not a regular file", "zero.mid": "not a regular file"}


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_text_preprocess_refuses_special_file(kind: str, tmp_path: Path) -> None:
    special_file(kind, tmp_path, "names.txt")
    r = jazzgen("preprocess", "names.txt", "--task", "chars", "-o", "corpus", cwd=tmp_path)
    one_line_error(r, 1, "names.txt", "not a regular file")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_generate_primer_render_and_evaluate_refuse_special_files(kind: str, tmp_path: Path) -> None:
    special_file(kind, tmp_path, "p.mid")
    r = jazzgen("generate", "-o", "solo.mid", "--bars", "4", "--primer", "p.mid", cwd=tmp_path)
    one_line_error(r, 1, "p.mid", KINDS[kind])
    assert not (tmp_path / "solo.mid").exists()
    r = jazzgen("render", "p.mid", cwd=tmp_path)
    one_line_error(r, 1, "p.mid", KINDS[kind])
    r = jazzgen("evaluate", ROOT / "jazzgen" / "assets" / "default_model", "p.mid", "--json", cwd=tmp_path)
    assert f"p.mid: {KINDS[kind]}" in r.stderr + r.stdout and "Traceback" not in r.stderr
