"""The one epoch loop (core/loop.py) under every backend: resume equals an uninterrupted run for
a text task on Keras and numpy, and training streamed from shards writes TensorBoard too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jazzgen.config import Config, PreprocessConfig, apply_overrides
from jazzgen.core.corpus import write_corpus
from jazzgen.core.shards import write_shards
from jazzgen.core.vocab import Vocab
from jazzgen.stages.preprocess import preprocess
from jazzgen.stages.train import train

DINOS = Path(__file__).resolve().parent.parent / "data" / "text" / "dinos.txt"

pytestmark = pytest.mark.slow


def _chars_config(backend: str, epochs: int) -> Config:
    return apply_overrides(Config(), {
        "model": {"units": 8, "embedding_dim": 0 if backend == "numpy" else 4},
        "data": {"seq_len": 16, "stride": 16},
        "train": {"epochs": epochs, "batch_size": 16, "learning_rate": 0.01, "patience": 0},
        "text": {"backend": backend}}, "test")


@pytest.fixture(scope="module")
def chars_corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chars")
    src = tmp / "dinos.txt"
    src.write_text("\n".join(DINOS.read_text(encoding="utf-8").splitlines()[:120]), encoding="utf-8")
    preprocess(Config(preprocess=PreprocessConfig(sources=(str(src),), output=str(tmp / "c"), task="chars")),
               log=lambda m: None)
    return tmp / "c"


@pytest.mark.parametrize("backend", ["keras", "numpy"])
def test_text_resume_gives_the_uninterrupted_history(chars_corpus, tmp_path, backend):
    logs: list[str] = []
    straight = train(chars_corpus, tmp_path / "a", _chars_config(backend, 3), log=logs.append)
    train(chars_corpus, tmp_path / "b", _chars_config(backend, 1), log=logs.append)
    resumed = train(chars_corpus, tmp_path / "b", _chars_config(backend, 3), resume=True, log=logs.append)
    assert any("resuming from epoch 1" in line for line in logs)
    assert len(straight.history) == 3
    for key in ("loss", "val_loss", "val_accuracy"):
        assert [h[key] for h in resumed.history] == [h[key] for h in straight.history], key
    assert (tmp_path / "b" / "history.csv").read_text().splitlines()[1:] != []
    assert straight.history[-1]["loss"] < straight.history[0]["loss"]


def _event_steps(run_dir) -> dict[str, set[int]]:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    steps: dict[str, set[int]] = {}
    for path in sorted((run_dir / "tensorboard").glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                steps.setdefault(value.tag, set()).add(event.step)
    return steps


def test_training_on_shards_writes_tensorboard(tmp_path):
    rng = np.random.default_rng(0)
    tokens = [[f"t{int(x)}" for x in (np.arange(90) * 3 + rng.integers(0, 2, 90)) % 20] for _ in range(6)]
    vocab = Vocab.from_tokens(t for ts in tokens for t in ts)
    pieces = [{"source": f"p{i}", "chords": [], "time_signature": [4, 4], "tempo_qpm": 120} for i in range(6)]
    write_corpus(tmp_path / "c", "jazz", {"name": "values"}, vocab, tokens, pieces, {"kept": [], "skipped": []})
    assert write_shards(tmp_path / "c", 200)
    cfg = apply_overrides(Config(), {"model": {"units": 8, "embedding_dim": 4},
                                     "data": {"seq_len": 16, "stride": 8, "val_fraction": 0.2},
                                     "train": {"epochs": 2, "batch_size": 8}}, "test")
    logs: list[str] = []
    train(tmp_path / "c", tmp_path / "run", cfg, log=logs.append)
    assert any(line.startswith("strategy default") for line in logs)  # the streamed path ran
    steps = _event_steps(tmp_path / "run")
    assert steps["loss"] == {1, 2} and steps["val_loss"] == {1, 2}
