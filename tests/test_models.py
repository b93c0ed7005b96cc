"""Keras builders: config round trip, shared layers, step = train, parity with numpy."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from jazzgen.core.engine import KerasEngine, NumpyEngine
from jazzgen.core.models import (
    ModelConfig,
    build_models,
    export_weights,
    load_export,
    save_export,
)
from jazzgen.core.numpy_rnn import FORWARD, deep_forward, params_from_keras

V, B, T = 9, 3, 6


def tiny(seed=0, **kw):
    """A small config and its models, with random (non-zero) biases."""
    keras.utils.set_random_seed(seed)
    cfg = ModelConfig(**{"units": 5, "embedding_dim": 4, **kw})
    num_outputs = 4 if cfg.head != "next" else None
    models = build_models(cfg, V, num_outputs)
    rng = np.random.default_rng(seed)
    for layer in models.train.layers:
        layer.set_weights([w + rng.normal(0, 0.2, w.shape).astype(w.dtype) if w.ndim < 3 and
                           layer.trainable else w for w in layer.get_weights()])
    return cfg, models


def random_ids(seed=1, low=1):
    return np.random.default_rng(seed).integers(low, V, (B, T)).astype(np.int32)


def test_config_round_trips_and_validates():
    cfg = ModelConfig(cell="gru", units=32, layers=2, bidirectional=True, dropout=0.1,
                      embedding_dim=0, head="tag")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig.from_dict({}) == ModelConfig()
    assert ModelConfig(cell="lstm", layers=2).state_names() == ["h0", "c0", "h1", "c1"]
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({"units": 3, "unitz": 4})
    for bad in ({"cell": "tcn"}, {"head": "seq2seq"}, {"dropout": 1.0}, {"units": 0},
                {"bidirectional": True, "head": "next"}):
        with pytest.raises(ValueError):
            ModelConfig(**bad)


def test_step_model_shares_the_train_models_layers():
    cfg, models = tiny(layers=2, dropout=0.1)
    shared = [layer for layer in models.step.layers
              if not isinstance(layer, keras.layers.InputLayer | keras.layers.Reshape)]
    assert {layer.name for layer in shared} == {
        "embedding", "lstm_0", "lstm_1", "dropout_0", "dropout_1", "head"}
    for layer in shared:
        assert models.train.get_layer(layer.name) is layer
    engine = KerasEngine(models.step, cfg)
    ids = np.array([1, 2, 3])
    before, _ = engine.step(ids, engine.initial_state(3))
    head = models.train.get_layer("head")
    kernel, bias = head.get_weights()
    head.set_weights([kernel, bias + 1.0])             # change the TRAIN model's weight ...
    after, _ = engine.step(ids, engine.initial_state(3))
    np.testing.assert_allclose(after, before + 1.0, atol=1e-5)  # ... the step model follows


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers,embedding_dim", [(1, 4), (2, 0)])
def test_stepping_equals_the_whole_window(cell, layers, embedding_dim):
    cfg, models = tiny(cell=cell, layers=layers, embedding_dim=embedding_dim)
    ids = random_ids()
    whole = models.train(ids, training=False).numpy()                    # (B, T, V)
    assert whole.shape == (B, T, V)
    engine = KerasEngine(models.step, cfg)
    state = engine.initial_state(B)
    for t in range(T):
        logits, state = engine.step(ids[:, t], state)
        np.testing.assert_allclose(logits, whole[:, t], atol=1e-5)


PARITY_SHAPES = [
    dict(head="next", layers=1),
    dict(head="next", layers=2, embedding_dim=0),
    dict(head="tag", layers=2, bidirectional=True),
    dict(head="tag", layers=1, bidirectional=True, embedding_dim=0),
    dict(head="classify", layers=2),
    dict(head="classify", layers=1, bidirectional=True),
]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("shape", PARITY_SHAPES, ids=lambda d: "-".join(map(str, d.values())))
def test_numpy_forward_matches_keras(cell, shape):
    cfg, models = tiny(cell=cell, **shape)
    ids = random_ids()
    keras_logits = models.train(ids, training=False).numpy()
    numpy_logits = NumpyEngine(cfg, export_weights(models, cfg), V).forward(ids)
    assert numpy_logits.shape == keras_logits.shape
    np.testing.assert_allclose(numpy_logits, keras_logits, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_course_reference_matches_keras(cell, bidirectional):
    """The course-notation forward, fed converted Keras weights, gives the Keras logits."""
    cfg, models = tiny(cell=cell, layers=2, bidirectional=bidirectional, head="tag")
    w = export_weights(models, cfg)
    ids = random_ids()
    x = w["embedding"][ids].astype(np.float64).transpose(2, 0, 1)      # (n_x, m, T_x)

    def course(prefix):
        return params_from_keras(cell, *(w[prefix + n] for n in (
            "kernel", "recurrent_kernel", "bias")))

    layers = [(course(f"layer{i}/forward/"), course(f"layer{i}/backward/")) if bidirectional
              else course(f"layer{i}/") for i in range(2)]
    a = deep_forward(x, layers, cell, bidirectional)                    # (n_a or 2 n_a, m, T_x)
    logits = a.transpose(1, 2, 0) @ w["head/kernel"] + w["head/bias"]
    np.testing.assert_allclose(logits, models.train(ids).numpy(), atol=1e-5)


def test_course_gru_matches_keras_gru_without_reset_after():
    keras.utils.set_random_seed(0)
    layer = keras.layers.GRU(5, reset_after=False, return_sequences=True,
                             bias_initializer="random_normal")
    x = np.random.default_rng(0).normal(size=(B, T, 3)).astype(np.float32)
    expected = layer(x).numpy()                                         # (B, T, n_a)
    a, _ = FORWARD["gru"](x.astype(np.float64).transpose(2, 0, 1), np.zeros((5, B)),
                          params_from_keras("gru", *layer.get_weights()))
    np.testing.assert_allclose(a.transpose(1, 2, 0), expected, atol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_classify_and_tag_skip_padding(bidirectional):
    cfg, models = tiny(head="classify", bidirectional=bidirectional)
    ids = random_ids()
    padded = np.concatenate([ids, np.zeros((B, 3), np.int32)], axis=1)
    np.testing.assert_allclose(models.train(padded).numpy(), models.train(ids).numpy(),
                               atol=1e-5)
    assert models.train(ids).shape == (B, 4)
    _, tagger = tiny(head="tag")
    np.testing.assert_allclose(tagger.train(padded).numpy()[:, :T], tagger.train(ids).numpy(),
                               atol=1e-5)


def test_export_round_trip(tmp_path):
    cfg, models = tiny(cell="gru", layers=2)
    weights = export_weights(models, cfg)
    assert weights["layer0/bias"].shape == (2, 15)                      # GRU reset_after=True
    assert weights["embedding"].shape == (V, 4) and weights["head/kernel"].shape == (5, V)
    save_export(tmp_path / "export.npz", cfg, V, weights)
    loaded = load_export(tmp_path / "export.npz")
    assert loaded.cfg == cfg and loaded.vocab_size == V
    assert loaded.weights.keys() == weights.keys()
    for k in weights:
        np.testing.assert_array_equal(loaded.weights[k], weights[k])
