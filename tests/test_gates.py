"""Output gates: numpy = Keras in both graphs, the penalty learns, exports keep them."""

from __future__ import annotations

import numpy as np
import pytest

from jazzgen.core.engine import KerasEngine, NumpyEngine
from jazzgen.core.gates import GateBlock, apply_gates, gates_from_weights, gates_to_weights, grow_gates
from jazzgen.core.models import ModelConfig, build_models, export_weights, import_weights, scale_head

V, F = 12, 9


def _gates(rng) -> list[GateBlock]:
    table = (rng.random((4, V)) < 0.5).astype(np.float32)                # one-hot block: a table
    columns = np.zeros((5, V), np.float32)                               # multi-hot: one column per id
    columns[rng.integers(0, 5, V), np.arange(V)] = 1.0
    ungated = (rng.random(V) < 0.3).astype(np.float32)
    return [GateBlock(0, table, np.zeros(V, np.float32), -3.0), GateBlock(4, columns, ungated, -1.5)]


def _rows(rng, shape) -> np.ndarray:
    ids = rng.integers(1, V, shape + (1,))
    onehot = np.eye(4)[rng.integers(0, 4, shape)]                        # features 0..3
    multi = rng.random(shape + (5,)) < 0.5                               # features 4..8
    return np.concatenate([ids, onehot, multi], axis=-1).astype(np.float32)


def test_gate_adds_its_penalty_exactly_where_it_disallows():
    rng = np.random.default_rng(0)
    gates = _gates(rng)
    rows = _rows(rng, (3,))
    logits = rng.normal(size=(3, V)).astype(np.float32)
    out = apply_gates(logits, rows, gates)
    for b in range(3):
        phase = int(np.argmax(rows[b, 1:5]))
        for v in range(V):
            expected = logits[b, v]
            if not gates[0].matrix[phase, v]:
                expected += -3.0
            if not (gates[1].offset[v] or rows[b, 1 + 4 + int(np.argmax(gates[1].matrix[:, v]))]):
                expected += -1.5
            assert out[b, v] == pytest.approx(expected)


def test_gated_numpy_engine_matches_both_keras_graphs():
    rng = np.random.default_rng(1)
    cfg = ModelConfig(units=8, embedding_dim=4, condition_dim=F)
    gates = _gates(rng)
    models = build_models(cfg, V, gates=gates)
    for w in models.train.weights:
        w.assign(rng.normal(0, 0.4, w.shape).astype("float32"))
    weights = export_weights(models, cfg)
    assert [g.penalty for g in gates_from_weights(weights)] != [-3.0, -1.5]  # the trained (assigned) ones
    engine = NumpyEngine(cfg, weights, V)
    rows = _rows(rng, (2, 6))
    keras_logits = np.asarray(models.train.predict_on_batch(rows))
    np.testing.assert_allclose(engine.forward(rows), keras_logits, atol=1e-4)
    keras_engine = KerasEngine(models.step, cfg)
    ns, ks = engine.initial_state(2), keras_engine.initial_state(2)
    for t in range(6):
        nl, ns = engine.step(rows[:, t], ns)
        kl, ks = keras_engine.step(rows[:, t], ks)
        np.testing.assert_allclose(nl, kl, atol=1e-4)
    # rebuilt from the export alone (the Keras sampling engine, fine-tuning): same logits
    again = build_models(cfg, V, gates=gates_from_weights(weights))
    import_weights(again, cfg, weights)
    np.testing.assert_allclose(np.asarray(again.train.predict_on_batch(rows)), keras_logits, atol=1e-5)


def test_penalty_is_trained_toward_the_targets_the_gates_refuse():
    import keras

    rng = np.random.default_rng(2)
    cfg = ModelConfig(units=8, embedding_dim=4, condition_dim=F)
    gates = _gates(rng)
    models = build_models(cfg, V, gates=gates)
    rows = _rows(rng, (16, 5))
    refused = ~np.logical_and.reduce([g.allowed(rows[..., 1:]) for g in gates])   # (16, 5, V)
    targets = np.argmax(refused, axis=-1)                                # a refused id wherever one is
    models.train.compile(optimizer=keras.optimizers.SGD(0.5),
                         loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [float(models.train.get_layer(f"gate{i}").penalty.numpy()) for i in range(2)]
    models.train.fit(rows, targets, epochs=3, verbose=0)
    after = [float(models.train.get_layer(f"gate{i}").penalty.numpy()) for i in range(2)]
    assert all(a > b for a, b in zip(after, before, strict=True))          # refused targets raise it


def test_export_scaling_and_growing_keep_the_gates():
    rng = np.random.default_rng(3)
    gates = _gates(rng)
    weights = gates_to_weights(gates)
    back = gates_from_weights(weights)
    assert [g.start for g in back] == [0, 4] and [g.penalty for g in back] == [-3.0, -1.5]
    np.testing.assert_array_equal(back[1].matrix, gates[1].matrix)
    scaled = scale_head({**weights, "head/kernel": np.ones((2, V)), "head/bias": np.ones(V)}, 2.0)
    assert [g.penalty for g in gates_from_weights(scaled)] == [-1.5, -0.75]  # logits / T everywhere
    to_new = np.array([0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13])            # 12 old ids among 15
    grown = gates_from_weights({**weights, **grow_gates(weights, to_new, 15)})
    np.testing.assert_array_equal(grown[0].matrix[:, to_new], gates[0].matrix)
    assert grown[0].offset[[1, 4, 14]].tolist() == [1.0, 1.0, 1.0]           # new ids are ungated
    with pytest.raises(ValueError, match="condition"):
        build_models(ModelConfig(units=4, embedding_dim=2), V, gates=gates)
