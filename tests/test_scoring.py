"""Held-out scoring (core/scoring.py): the stepped numpy engine against the Keras training graph."""

from __future__ import annotations

import numpy as np
import pytest

from jazzgen.core.engine import NumpyEngine
from jazzgen.core.models import ModelConfig
from jazzgen.core.scoring import log_softmax, mean_nll, sequence_log_probs

V, BOS, EOS = 13, 1, 2


@pytest.fixture(scope="module")
def models():
    import keras

    from jazzgen.core.models import build_models, export_weights

    keras.utils.set_random_seed(3)
    cfg = ModelConfig(cell="lstm", units=8, layers=2, embedding_dim=5)
    built = build_models(cfg, V)
    head = built.train.get_layer("head")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 3, bias])  # livelier distributions than at initialisation
    return built, NumpyEngine(cfg, export_weights(built, cfg), V)


def keras_log_probs(train_model, sequences):
    """log P of every framed target from the whole-sequence Keras graph, padded and cut back."""
    framed = [np.concatenate([[BOS], s, [EOS]]) for s in sequences]
    width = max(len(f) for f in framed) - 1
    x = np.zeros((len(framed), width), np.int32)
    y = np.zeros_like(x)
    for b, f in enumerate(framed):
        x[b, : len(f) - 1], y[b, : len(f) - 1] = f[:-1], f[1:]
    logits = np.asarray(train_model(x), np.float64)                      # (B, T, V)
    log_p = np.take_along_axis(log_softmax(logits), y[..., None], axis=-1)[..., 0]
    return [log_p[b, : len(f) - 1] for b, f in enumerate(framed)], logits, y


def test_stepped_scores_equal_the_keras_graph(models):
    built, engine = models
    rng = np.random.default_rng(0)
    sequences = [rng.integers(3, V, size=n) for n in (7, 1, 12, 0, 5)]
    want, logits, y = keras_log_probs(built.train, sequences)
    # batch_size 2: sequences of different lengths split across batches and shrinking batches
    got = sequence_log_probs(engine, sequences, BOS, EOS, batch_size=2)
    for g, w, s in zip(got, want, sequences, strict=True):
        assert g.shape == (len(s) + 1,)
        np.testing.assert_allclose(g, w, atol=1e-4)
    loss, accuracy, count = mean_nll(engine, sequences, BOS, EOS)
    mask = y != 0
    assert count == mask.sum() == sum(len(s) + 1 for s in sequences)
    assert loss == pytest.approx(-np.concatenate(want).mean(), abs=1e-4)
    assert accuracy == pytest.approx((logits.argmax(-1) == y)[mask].mean())


def test_log_softmax_normalises_over_the_allowed_classes():
    z = np.array([[1.0, 2.0, 3.0, 1000.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    full = log_softmax(z)
    np.testing.assert_allclose(np.exp(full).sum(axis=-1), 1.0)
    assert np.isfinite(full).all()  # the large logit does not overflow
    allowed = np.array([True, True, False, False])
    part = log_softmax(z, allowed=allowed)
    np.testing.assert_allclose(np.exp(part[:, :2]).sum(axis=-1), 1.0)
    assert np.isneginf(part[:, 2:]).all()
    np.testing.assert_allclose(part[1, :2], np.log(0.5))
    np.testing.assert_allclose(log_softmax(z.T, axis=0), full.T)


class _FixedLogits:
    """An engine whose every step predicts the same logits (a unigram model)."""

    def __init__(self, logits):
        self.logits = np.asarray(logits, np.float32)

    def initial_state(self, batch_size):
        return [np.zeros((batch_size, 1))]

    def step(self, ids, state):
        return np.tile(self.logits, (len(ids), 1)), state


def test_fit_temperature_finds_how_overconfident_a_model_is():
    from jazzgen.core.scoring import fit_temperature, mean_nll, nll_by_temperature

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2.0, 12)
    logits[0] = -50.0                                    # id 0 is bos: never predicted
    true_t = 1.25                                        # the data are flatter than the model says
    p = np.exp(logits / true_t)
    p /= p.sum()
    sequences = [rng.choice(12, size=400, p=p) for _ in range(20)]
    engine = _FixedLogits(logits)
    t, before, after = fit_temperature(engine, sequences, bos=0, eos=1)
    assert abs(t - true_t) <= 0.05 and after < before
    assert before == pytest.approx(mean_nll(engine, sequences, 0, 1)[0], rel=1e-5)
    nll = nll_by_temperature(engine, sequences, 0, 1, temperatures=(t,))
    assert nll[0] == pytest.approx(mean_nll(_FixedLogits(logits / t), sequences, 0, 1)[0], rel=1e-5)


def test_scale_head_divides_the_logits():
    from jazzgen.core.engine import NumpyEngine
    from jazzgen.core.models import ModelConfig, build_models, export_weights, scale_head

    cfg = ModelConfig(units=8, embedding_dim=4)
    weights = export_weights(build_models(cfg, 10), cfg)
    ids = np.array([[3, 4, 5, 6]])
    plain = NumpyEngine(cfg, weights, 10).forward(ids)
    scaled = NumpyEngine(cfg, scale_head(weights, 1.1), 10).forward(ids)
    np.testing.assert_allclose(scaled, plain / 1.1, rtol=1e-5, atol=1e-6)
