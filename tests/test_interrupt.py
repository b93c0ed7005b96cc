"""Work is never lost: Ctrl-C saves and exits cleanly, SIGKILL resumes from the last checkpoint."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jazzgen.core.corpus import write_corpus
from jazzgen.core.vocab import Vocab

pytestmark = pytest.mark.slow
SETTINGS = ["--set", "model.units=16", "--set", "model.embedding_dim=8", "--set", "data.seq_len=16",
            "--set", "data.stride=4", "--set", "train.batch_size=8", "--set", "train.patience=0",
            "--set", "train.checkpoint_every_s=0"]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(1)
    tokens = [[f"t{int(x)}" for x in rng.integers(0, 30, 400)] for _ in range(12)]
    vocab = Vocab.from_tokens(t for ts in tokens for t in ts)
    pieces = [{"source": f"p{i}", "chords": [], "time_signature": [4, 4], "tempo_qpm": 120} for i in range(12)]
    write_corpus(path, "jazz", {"name": "values"}, vocab, tokens, pieces, {"kept": [], "skipped": []})
    return path


def _start(corpus_dir, run_dir, epochs, *extra):
    cmd = [sys.executable, "-m", "jazzgen", "train", str(corpus_dir), "-o", str(run_dir), "--epochs", str(epochs),
           *SETTINGS, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """Ctrl-C as a terminal delivers it, even where the suite itself runs in the background (a
    shell starts background jobs with SIGINT ignored, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _epochs_done(run_dir: Path) -> int:
    history = run_dir / "history.csv"
    return max(len(history.read_text().splitlines()) - 1, 0) if history.is_file() else 0


def _wait_for_epochs(proc, run_dir, n, timeout=120):
    t0 = time.time()
    while _epochs_done(run_dir) < n:
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() - t0 < timeout, "training too slow"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_training_resumes(corpus_dir, tmp_path, sig):
    run_dir = tmp_path / "run"
    proc = _start(corpus_dir, run_dir, 500)
    _wait_for_epochs(proc, run_dir, 2)
    os.kill(proc.pid, sig)
    output = proc.communicate(timeout=60)[0]
    if sig == signal.SIGINT:
        assert proc.returncode == 130, output
        assert "interrupted" in output and "Traceback" not in output
    done = _epochs_done(run_dir)
    assert done >= 2
    resumed = _start(corpus_dir, run_dir, done + 1, "--resume")
    output = resumed.communicate(timeout=120)[0]
    assert resumed.returncode == 0, output
    assert "resuming" in output
    assert _epochs_done(run_dir) == done + 1
    assert not list(run_dir.glob(".*.tmp")), "a half-written temporary file was left behind"


def test_sigkill_at_random_points_always_resumes(corpus_dir, tmp_path):
    """Kill -9 at seeded random moments (often mid-write: a checkpoint every epoch), then finish."""
    run_dir = tmp_path / "run"
    delays = np.random.default_rng(11).uniform(0.0, 1.5, size=3)
    target = 40
    for k, delay in enumerate(delays):
        proc = _start(corpus_dir, run_dir, target, *(["--resume"] if k else []))
        if k == 0:
            _wait_for_epochs(proc, run_dir, 1)
        time.sleep(float(delay))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    final = _start(corpus_dir, run_dir, target, "--resume")
    output = final.communicate(timeout=300)[0]
    assert final.returncode == 0, output
    assert _epochs_done(run_dir) == target
    assert not list(run_dir.glob(".*.tmp")), "a half-written temporary file was left behind"
