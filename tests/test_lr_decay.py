"""Reduce on plateau (train.lr_decay): the loop goes back to the best weights at a lower rate."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from jazzgen.core.loop import StepBackend, run_epochs


class _Scripted(StepBackend):
    """Validation losses from a script; records what the loop asks."""

    def __init__(self, val_losses):
        self.val_losses, self.calls, self.saved = list(val_losses), [], None

    def train_epoch(self, epoch):
        return 1.0, math.nan

    def evaluate(self, epoch):
        return self.val_losses[epoch - 1], 0.0

    def save(self, path, state):
        self.saved = {**state, "history": list(state["history"])}
        Path(path).write_text("x")

    def restore(self, path):
        return self.saved

    def go_back(self, rate_scale):
        self.calls.append(rate_scale)


def test_each_epoch_without_progress_goes_back_at_a_lower_rate(tmp_path):
    backend = _Scripted([1.0, 1.2, 0.9, 0.95, 0.96])
    logs = []
    result = run_epochs(backend, tmp_path, epochs=5, patience=3, lr_decay=0.5, log=logs.append)
    assert backend.calls == [0.5, 0.25]        # after epochs 2 and 4; not after the last one
    assert result.best_epoch == 3 and backend.saved["rate_scale"] == 0.25
    assert any("back to epoch 3's weights, learning rate x0.25" in line for line in logs)
    at = logs.index(next(line for line in logs if "x0.5" in line))
    assert logs[at - 1].startswith("epoch 2/5")     # said after the epoch that did not improve
    resumed = _Scripted([1.0, 1.2, 0.9, 0.95, 0.96, 0.8])
    resumed.saved = backend.saved
    run_epochs(resumed, tmp_path, epochs=6, patience=3, lr_decay=0.5, resume=True, log=logs.append)
    assert resumed.calls[0] == 0.25            # the lowered rate comes back with the checkpoint


def test_without_decay_the_loop_never_asks(tmp_path):
    backend = _Scripted([1.0, 1.2, 1.3])
    run_epochs(backend, tmp_path, epochs=3, patience=0, log=lambda m: None)
    assert backend.calls == []


def test_keras_backend_restores_the_best_weights_and_lowers_its_rate():
    import keras

    from jazzgen.core.models import ModelConfig, build_models
    from jazzgen.core.training import KerasBackend

    cfg = ModelConfig(units=8, embedding_dim=4)
    models = build_models(cfg, 12)
    optimizer = keras.optimizers.Adam(learning_rate=0.05, global_clipnorm=1.0)
    optimizer.build(models.train.trainable_variables)
    rng = np.random.default_rng(0)
    xy = (rng.integers(1, 12, (32, 6)).astype(np.int32), rng.integers(1, 12, (32, 6)).astype(np.int32))
    backend = KerasBackend(models, optimizer, xy, xy, 8, 0)
    backend.export_best()
    best = [w.copy() for w in models.train.get_weights()]
    backend.train_epoch(1)
    assert any(not np.array_equal(a, b) for a, b in zip(best, models.train.get_weights(), strict=True))
    backend.go_back(0.1)
    for a, b in zip(best, models.train.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert float(np.asarray(optimizer.learning_rate)) == pytest.approx(0.005)


def test_lr_decay_is_refused_where_it_cannot_work(tmp_path):
    from jazzgen.config import Config, apply_overrides
    from jazzgen.core.plan import check_train_config
    from jazzgen.errors import UsageError

    with pytest.raises(UsageError, match="train.lr_decay must be in"):
        check_train_config(apply_overrides(Config(), {"train": {"lr_decay": 0.0}}, "test"))
