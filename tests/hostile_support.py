"""Helpers of the hostile-input tests: children with time and memory limits, special files, a tiny corpus."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WJD = ROOT / "data" / "midi" / "wjd"
GOOD = "ArtPepper_Anthropology.mid"
SOLOS = ["ArtPepper_Anthropology.mid", "CharlieParker_Ornithology.mid", "MilesDavis_Airegin.mid"]
TINY = ROOT / "pipelines" / "tiny.toml"
MEMORY_LIMIT = 3 << 30  # bytes of address space a child may map: far below what /dev/zero would take


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_child(args: list[str], cwd: Path, timeout: float = 90, limit_memory: bool = True
              ) -> subprocess.CompletedProcess:
    """Run a Python child with this tree on its path, a time limit and (optionally) a memory limit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    try:
        return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, preexec_fn=_limit_memory if limit_memory else None)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} did not finish within {timeout} s (blocked on a special file?)")


def jazzgen(*args, cwd: Path, timeout: float = 90, limit_memory: bool = False) -> subprocess.CompletedProcess:
    """`jazzgen ARGS` in a child; `limit_memory` for commands that meet special files (not TensorFlow)."""
    return run_child(["-m", "jazzgen", *map(str, args)], cwd, timeout, limit_memory)


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
