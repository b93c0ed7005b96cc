"""tf.distribute training equals one device: 2 mirrored CPU replicas, 2 worker processes, resume.

TensorFlow fixes its devices and collectives when it starts, so the distributed runs happen in
child processes (started together, to share their start-up time); the one-device reference runs
here with `core.training.fit`, the default path.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from jazzgen.cli import main
from jazzgen.core.cluster import is_chief, make_strategy, worker_run_dir
from jazzgen.core.models import ModelConfig
from jazzgen.errors import UsageError

pytestmark = pytest.mark.slow

MODEL = {"units": 16, "embedding_dim": 8}
KW = {"learning_rate": 0.01, "clip_norm": 0.5, "patience": 0, "seed": 0}  # the clip is active
PER_REPLICA, REPLICAS, EPOCHS = 8, 2, 2
TIMEOUT_S = 300
ATOL = 1e-5

CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import numpy as np
    from jazzgen.core.cluster import split_cpu
    from jazzgen.core.distributed import array_windows, fit_distributed
    from jazzgen.core.models import ModelConfig
    job = json.loads(sys.argv[1])
    if job["cpus"]:
        split_cpu(job["cpus"])
    d = np.load(job["data"])
    for run in job["runs"]:
        train = array_windows(d["x"], d["y"], job["kw"]["seed"])
        val = array_windows(d["xv"], d["yv"], None)
        fit_distributed(ModelConfig(**job["model"]), int(d["vocab"]), train, val, Path(run["dir"]),
                        strategy=job["strategy"], batch_size=job["batch"], epochs=run["epochs"],
                        resume=run["resume"], log=lambda m: print(m, flush=True), **job["kw"])
    print("DONE", flush=True)
""")


def _data():
    """Padded windows; 36 = 2 full global batches and one of 4 (a replica gets an empty slice)."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, (36, 12)).astype(np.int32)
    y = np.roll(x, -1, axis=1)
    y[:5, -3:] = 0
    return {"x": x, "y": y, "xv": x[:7], "yv": y[:7], "vocab": np.array(20)}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(job, env_extra=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")
    env.pop("TF_CONFIG", None)
    env.update(env_extra or {})
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(job)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parent.parent,
    )


def _finish(proc, deadline):
    try:
        out, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        proc.kill()
        return None, proc.communicate()[0]


def _weights(run_dir):
    with np.load(Path(run_dir) / "checkpoint.npz") as f:
        return {k: f[k] for k in f.files if k != "state"}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=ATOL, rtol=0, err_msg=k)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One-device reference (here), then the mirrored and the two multi-worker children at once."""
    from jazzgen.core.training import fit

    root = tmp_path_factory.mktemp("dist")
    data = _data()
    np.savez(root / "data.npz", **data)
    cfg = ModelConfig(**MODEL)
    for name, epochs in (("ref", EPOCHS), ("ref1", 1)):
        fit(
            cfg,
            20,
            (data["x"], data["y"]),
            (data["xv"], data["yv"]),
            root / name,
            epochs=epochs,
            batch_size=PER_REPLICA * REPLICAS,
            log=lambda m: None,
            **KW,
        )
    (root / "resumed").mkdir()
    shutil.copy(root / "ref1" / "checkpoint.npz", root / "resumed" / "checkpoint.npz")  # 1 replica wrote it

    job = {"data": str(root / "data.npz"), "model": MODEL, "kw": KW, "batch": PER_REPLICA}
    mirrored = _start(
        {
            **job,
            "cpus": REPLICAS,
            "strategy": "mirrored",
            "runs": [
                {"dir": str(root / "mirrored"), "epochs": EPOCHS, "resume": False},
                {"dir": str(root / "resumed"), "epochs": EPOCHS, "resume": True},
            ],
        }
    )
    ports = [_free_port() for _ in range(REPLICAS)]
    workers = []
    for i in range(REPLICAS):
        tf_config = {
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": i},
        }
        workers.append(
            _start(
                {
                    **job,
                    "cpus": 0,
                    "strategy": "multiworker",
                    "runs": [{"dir": str(root / f"worker{i}"), "epochs": EPOCHS, "resume": False}],
                },
                {"TF_CONFIG": json.dumps(tf_config)},
            )
        )
    deadline = time.monotonic() + TIMEOUT_S
    yield {"root": root, "mirrored": mirrored, "workers": workers, "deadline": deadline}
    for p in [mirrored, *workers]:
        if p.poll() is None:
            p.kill()
            p.communicate()


def test_mirrored_two_cpu_replicas_equal_one_device(runs):
    code, out = _finish(runs["mirrored"], runs["deadline"])
    assert code == 0 and "DONE" in out, out[-3000:]
    assert "strategy mirrored: 2 replica(s), global batch 16 (8 per replica)" in out
    root = runs["root"]
    _assert_same(_weights(root / "ref"), _weights(root / "mirrored"))  # weights and Adam moments


def test_a_one_device_checkpoint_resumes_under_two_replicas(runs):
    code, out = _finish(runs["mirrored"], runs["deadline"])
    assert code == 0, out[-3000:]
    assert "resuming from epoch 1" in out
    root = runs["root"]
    _assert_same(_weights(root / "ref"), _weights(root / "resumed"))


def test_two_worker_processes_equal_one_device(runs):
    results = [_finish(p, runs["deadline"]) for p in runs["workers"]]
    started = all("strategy multiworker: 2 replica(s)" in out for _, out in results)
    if not started and any(code != 0 for code, _ in results):
        tail = " | ".join(out.strip().splitlines()[-1][:200] for _, out in results if out.strip())
        pytest.skip(f"multi-worker collectives did not start in this sandbox (127.0.0.1 workers): {tail}")
    for code, out in results:
        assert code == 0 and "DONE" in out, out[-3000:]
    root = runs["root"]
    w0 = _weights(root / "worker0")
    _assert_same(_weights(root / "ref"), w0)
    _assert_same(w0, _weights(root / "worker1"))


def test_task_roles_from_tf_config(monkeypatch, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert is_chief("multiworker") and worker_run_dir(tmp_path / "run", "multiworker") == tmp_path / "run"
    cluster = {"worker": ["a:1", "b:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert not is_chief("multiworker") and is_chief("mirrored")
    assert worker_run_dir(tmp_path / "run", "multiworker") == tmp_path / "run.worker-1"
    assert worker_run_dir(tmp_path / "run", "mirrored") == tmp_path / "run"
    with pytest.raises(UsageError, match="unknown train.strategy"):
        worker_run_dir(tmp_path / "run", "mirrorred")
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(UsageError, match="TF_CONFIG"):
        make_strategy("multiworker")


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    from jazzgen.core.corpus import write_corpus
    from jazzgen.core.vocab import Vocab

    path = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(1)
    tokens = [
        [f"t{int(v)}" for v in (np.arange(n) * 3 + rng.integers(0, 2, n)) % 20] for n in (90, 40, 120, 70, 15, 60)
    ]
    vocab = Vocab.from_tokens(t for ts in tokens for t in ts)
    write_corpus(
        path,
        "jazz",
        {"name": "values"},
        vocab,
        tokens,
        [{"source": f"p{i}", "chords": [], "time_signature": [4, 4], "tempo_qpm": 120} for i in range(len(tokens))],
        {"kept": [], "skipped": []},
    )
    return path


def _train(corpus, out, *extra):
    sets = "model.units=16 model.embedding_dim=8 data.seq_len=16 data.stride=8 train.batch_size=8"
    args = ["train", str(corpus), "-o", str(out), "--epochs", "1", *(f"--set={s}" for s in sets.split()), *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_strategy_mirrored_trains_like_default_and_shards_stream(corpus_dir, tmp_path):
    _train(corpus_dir, tmp_path / "default")
    out = _train(corpus_dir, tmp_path / "mirrored", "--strategy", "mirrored")  # 1 replica in-process
    assert "strategy mirrored" in out
    assert json.loads((tmp_path / "mirrored" / "config.json").read_text())["train"]["strategy"] == "mirrored"
    _assert_same(_weights(tmp_path / "default"), _weights(tmp_path / "mirrored"))
    for name in ("export.npz", "run.json", "history.csv", "changes.json"):
        assert (tmp_path / "mirrored" / name).is_file(), name

    from jazzgen.core.shards import write_shards

    write_shards(corpus_dir, 100)
    try:
        out = _train(corpus_dir, tmp_path / "streamed")
    finally:
        write_shards(corpus_dir, 0)
    assert "strategy default" in out and "epoch 1/1" in out
    assert (tmp_path / "streamed" / "export.npz").is_file()
