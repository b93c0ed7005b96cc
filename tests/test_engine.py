"""Sampling engines: numpy = Keras, one shared chooser, batched sampling, no TensorFlow needed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jazzgen.core.engine import NumpyEngine, choose
from jazzgen.core.models import ModelConfig, save_export
from jazzgen.core.sampling import sample_sequences

V, B = 11, 8


def keras_models(cell, layers, seed=0):
    """A small random Keras model and its numpy twin (through an export file)."""
    import keras

    from jazzgen.core.engine import KerasEngine
    from jazzgen.core.models import build_models, export_weights

    keras.utils.set_random_seed(seed)
    cfg = ModelConfig(cell=cell, units=6, layers=layers, embedding_dim=5)
    models = build_models(cfg, V)
    head = models.train.get_layer("head")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 3, bias])               # livelier distributions
    return cfg, KerasEngine(models.step, cfg), NumpyEngine(cfg, export_weights(models, cfg), V)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 2])
def test_numpy_and_keras_engines_agree(cell, layers):
    _, k_engine, n_engine = keras_models(cell, layers)
    rng = np.random.default_rng(0)
    k_state, n_state = k_engine.initial_state(B), n_engine.initial_state(B)
    for _ in range(5):                                 # states carry from step to step
        ids = rng.integers(0, V, B)
        k_logits, k_state = k_engine.step(ids, k_state)
        n_logits, n_state = n_engine.step(ids, n_state)
        assert n_logits.shape == (B, V) and n_logits.dtype == np.float32
        np.testing.assert_allclose(n_logits, k_logits, atol=1e-5)
        for k_s, n_s in zip(k_state, n_state, strict=True):
            np.testing.assert_allclose(n_s, k_s, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_same_seed_same_samples_on_both_engines(cell):
    _, k_engine, n_engine = keras_models(cell, 2)
    for start in (0, 3, V - 1):                        # several first inputs
        kwargs = dict(start_id=start, max_steps=12, temperature=1.0, top_k=6)
        from_keras = sample_sequences(k_engine, B, np.random.default_rng(7), **kwargs)
        from_numpy = sample_sequences(n_engine, B, np.random.default_rng(7), **kwargs)
        assert np.asarray(from_numpy).shape == (B, 12)
        np.testing.assert_array_equal(from_numpy, from_keras)
        other = sample_sequences(n_engine, B, np.random.default_rng(8), **kwargs)
        assert not np.array_equal(other, from_numpy)


def test_choose_validates_and_obeys_top_k_and_mask():
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]] * 2000))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        choose(logits, rng, temperature=0)
    with pytest.raises(ValueError):
        choose(logits, rng, mask=np.zeros(4, bool))
    with pytest.raises(ValueError):
        choose(logits, rng, top_k=0)
    counts = np.bincount(choose(logits, rng), minlength=4) / 2000
    np.testing.assert_allclose(counts, [0.1, 0.2, 0.3, 0.4], atol=0.04)  # draws follow softmax
    assert set(choose(logits, rng, top_k=2)) == {2, 3}
    assert set(choose(logits, rng, mask=np.array([True, True, False, False]))) == {0, 1}
    assert set(choose(logits, rng, temperature=1e-3)) == {3}            # cold: argmax
    row_mask = np.zeros((2000, 4), bool)
    row_mask[np.arange(2000), np.arange(2000) % 4] = True              # one allowed id per row
    np.testing.assert_array_equal(choose(logits, rng, mask=row_mask), np.arange(2000) % 4)
    np.testing.assert_array_equal(choose(logits, np.random.default_rng(3)),
                                  choose(logits, np.random.default_rng(3)))


def test_choose_ignores_float32_noise():
    """Logits that differ by float32 rounding give the same ids from the same seed."""
    logits = np.random.default_rng(0).normal(0, 3, (500, 50)).astype(np.float32)
    noisy = logits + np.float32(1e-6) * np.sign(np.random.default_rng(1).normal(size=(500, 50)))
    same = choose(logits, np.random.default_rng(5)) == choose(noisy, np.random.default_rng(5))
    assert same.mean() > 0.99


def random_export(path, cell="lstm", layers=2, embedding_dim=4, units=6, seed=0):
    """An export file with random weights, written without Keras."""
    cfg = ModelConfig(cell=cell, units=units, layers=layers, embedding_dim=embedding_dim)
    rng = np.random.default_rng(seed)
    k = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    weights = {"embedding": rng.normal(size=(V, embedding_dim))} if embedding_dim else {}
    n_in = embedding_dim or V
    for i in range(layers):
        weights[f"layer{i}/kernel"] = rng.normal(0, 0.5, (n_in if i == 0 else units, k * units))
        weights[f"layer{i}/recurrent_kernel"] = rng.normal(0, 0.5, (units, k * units))
        weights[f"layer{i}/bias"] = rng.normal(0, 0.1, (2, 3 * units) if cell == "gru" else
                                               (k * units,))
    weights["head/kernel"] = rng.normal(size=(units, V))
    weights["head/bias"] = np.zeros(V)
    save_export(path, cfg, V, {n: w.astype(np.float32) for n, w in weights.items()})
    return cfg


def test_sampling_stops_each_sequence_at_its_stop_id(tmp_path):
    random_export(tmp_path / "e.npz", cell="gru", layers=1, embedding_dim=0)
    engine = NumpyEngine.from_export(tmp_path / "e.npz")
    assert engine.vocab_size == V
    rows = sample_sequences(engine, 64, np.random.default_rng(0), start_id=0, max_steps=40, stop_id=3)
    assert len(rows) == 64 and all(len(row) <= 40 for row in rows)
    assert all(3 not in row for row in rows)          # a sequence ends at its first 3 (not kept)
    assert any(len(row) < 40 for row in rows)  # some did stop early


def test_numpy_engine_runs_without_tensorflow(tmp_path):
    path = tmp_path / "export.npz"
    random_export(path)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from jazzgen.core.engine import NumpyEngine
        from jazzgen.core.sampling import sample_sequences
        engine = NumpyEngine.from_export({str(path)!r})
        ids = np.asarray(sample_sequences(engine, 64, np.random.default_rng(0), start_id=1,
                                          max_steps=20, top_k=5))
        assert ids.shape == (64, 20), ids.shape
        loaded = [m for m in ("tensorflow", "keras") if m in sys.modules]
        assert not loaded, loaded
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_two_level_inverse_cdf_matches_a_full_cumulative_sum():
    from jazzgen.core.engine import _inverse_cdf

    rng = np.random.default_rng(7)
    for vocab in (1, 5, 64, 65, 2879):
        p = rng.random((50, vocab)).astype(np.float32) ** 4
        p[:, ::3] = 0.0  # masked-out ids
        if vocab == 1:
            p[:] = 1.0
        u = rng.random(50)
        want = np.array([np.searchsorted(np.cumsum(row, dtype=np.float64), x * row.sum(dtype=np.float64), "right")
                         for row, x in zip(p, u)])
        got = _inverse_cdf(p, u)
        assert (got == np.minimum(want, vocab - 1)).mean() > 0.97  # float32 block sums may round a boundary
        assert (p[np.arange(50), got] > 0).all() or vocab == 1


def test_choose_draws_in_proportion_to_the_softmax():
    rng = np.random.default_rng(1)
    logits = np.log(np.tile(np.array([0.1, 0.2, 0.3, 0.4], np.float32), 40))[None, :].repeat(2000, 0)
    ids = np.concatenate([choose(logits, rng) for _ in range(10)])
    freq = np.bincount(ids % 4, minlength=4) / len(ids)
    assert np.allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=0.01)
