"""Training: the loss falls, a resumed run equals an uninterrupted one, the run dir is complete."""

import dataclasses

import numpy as np
import pytest

from jazzgen.config import Config, apply_overrides
from jazzgen.core.corpus import write_corpus
from jazzgen.core.files import read_json
from jazzgen.core.vocab import Vocab
from jazzgen.errors import UsageError
from jazzgen.stages.train import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    # A learnable pattern: mostly +3 steps through 20 symbols.
    tokens = [[f"t{int(x)}" for x in (np.arange(120) * 3 + rng.integers(0, 2, 120)) % 20] for _ in range(8)]
    vocab = Vocab.from_tokens(t for ts in tokens for t in ts)
    write_corpus(path, "jazz", {"name": "values"}, vocab, tokens,
                 [{"source": f"p{i}", "chords": [], "time_signature": [4, 4], "tempo_qpm": 120} for i in range(8)],
                 {"kept": [], "skipped": []})
    return path


def _config(epochs):
    return apply_overrides(Config(), {"model": {"units": 16, "embedding_dim": 8},
                                      "data": {"seq_len": 16, "stride": 8},
                                      "train": {"epochs": epochs, "batch_size": 16, "learning_rate": 0.01}}, "test")


def test_resume_continues_exactly(corpus_dir, tmp_path):
    logs = []
    straight = train(corpus_dir, tmp_path / "a", _config(4), log=logs.append)
    assert straight.history[-1]["loss"] < straight.history[0]["loss"]
    train(corpus_dir, tmp_path / "b", _config(2), log=logs.append)
    resumed = train(corpus_dir, tmp_path / "b", _config(4), resume=True, log=logs.append)
    assert any("resuming from epoch 2" in line for line in logs)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    for name in ("config.json", "vocab.json", "task.json", "run.json", "export.npz", "checkpoint.npz", "history.csv"):
        assert (tmp_path / "a" / name).is_file(), name
    info = read_json(tmp_path / "a" / "run.json")
    assert info["seed"] == 0 and "numpy" in info["versions"] and info["corpus_hash"]


def test_refuses_to_overwrite_or_resume_another_model(corpus_dir, tmp_path):
    train(corpus_dir, tmp_path / "r", _config(1), log=lambda s: None)
    with pytest.raises(UsageError, match="already holds a run"):
        train(corpus_dir, tmp_path / "r", _config(1), log=lambda s: None)
    other = dataclasses.replace(_config(1), model=dataclasses.replace(_config(1).model, units=8))
    with pytest.raises(UsageError, match="model settings differ"):
        train(corpus_dir, tmp_path / "r", other, resume=True, log=lambda s: None)


def test_tensorboard_logs_every_epoch(corpus_dir, tmp_path):
    import tensorflow as tf

    train(corpus_dir, tmp_path / "t", _config(2), log=lambda s: None)
    events = list((tmp_path / "t" / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    steps = {}
    for event in tf.compat.v1.train.summary_iterator(str(events[0])):
        for value in event.summary.value:
            steps.setdefault(value.tag, set()).add(event.step)
    assert steps["loss"] == {1, 2} and steps["val_loss"] == {1, 2}
    assert (tmp_path / "t" / "curves.png").stat().st_size > 10_000
