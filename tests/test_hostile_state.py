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


# --------------------------------------------------------------------------------------------
# Never lose work: locks, whole-corpus swaps, hashes checked on read


def tiny_corpus(path: Path, n_pieces: int = 6, seed: int = 1) -> dict:
    """A small jazz-shaped corpus written by `write_corpus`; returns its corpus.json."""
    import numpy as np

    from jazzgen.core.corpus import write_corpus
    from jazzgen.core.vocab import Vocab

    rng = np.random.default_rng(seed)
    tokens = [[f"t{int(x)}" for x in rng.integers(0, 20, 80)] for _ in range(n_pieces)]
    vocab = Vocab.from_tokens(t for ts in tokens for t in ts)
    pieces = [{"source": f"s{seed}/p{i}", "chords": [], "time_signature": [4, 4], "tempo_qpm": 120}
              for i in range(n_pieces)]
    return write_corpus(path, "jazz", {"name": "values"}, vocab, tokens, pieces, {"kept": [], "skipped": []})


def invoke(*args):
    from click.testing import CliRunner

    from jazzgen.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def cli_error(result, code: int, *words: str) -> None:
    """An in-process CLI result: exit `code`, one `error:` line holding `words`, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    for word in words:
        assert word in errors[0], errors[0]


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
