"""The numpy reference RNNs: shapes, gradients against finite differences, clipping, sampling."""

from __future__ import annotations

import numpy as np
import pytest

from jazzgen.core.numpy_rnn import (
    BACKWARD,
    CELLS,
    FORWARD,
    PARAM_NAMES,
    bidirectional_forward,
    deep_forward,
    init_params,
    keras_gru_step,
    keras_lstm_step,
    keras_sequence,
    keras_simplernn_step,
    params_from_keras,
)
from jazzgen.core.numpy_train import (
    Adam,
    clip_by_global_norm,
    clip_by_value,
    loss_and_grads,
    sgd_step,
)

N_X, N_A, N_Y, M, T = 3, 4, 5, 2, 4


def relative_error(a, b):
    """The course's gradient-check measure: ||a - b|| / (||a|| + ||b||)."""
    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b) + 1e-300)


def numerical_gradient(f, w, eps=1e-5):
    """Centred differences of the scalar f() with respect to every entry of `w` (in place)."""
    g = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        old = w[i]
        w[i] = old + eps
        plus = f()
        w[i] = old - eps
        minus = f()
        w[i] = old
        g[i] = (plus - minus) / (2 * eps)
    return g


def problem(cell, many_to_one, seed=0):
    rng = np.random.default_rng(seed)
    params = init_params(cell, N_X, N_A, rng, n_y=N_Y, scale=0.5)
    for k in params:                                   # non-zero biases exercise every term
        if k.startswith("b"):
            params[k] = rng.normal(0, 0.3, params[k].shape)
    x = rng.normal(size=(N_X, M, T))
    a0 = rng.normal(0, 0.5, (N_A, M))
    if many_to_one:
        return params, x, a0, rng.integers(0, N_Y, M), None
    mask = np.ones((M, T))
    mask[1, -2:] = 0                                   # the second sequence is shorter
    return params, x, a0, rng.integers(0, N_Y, (M, T)), mask


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("many_to_one", [False, True])
def test_gradients_match_finite_differences(cell, many_to_one):
    params, x, a0, y, mask = problem(cell, many_to_one)

    def loss():
        return loss_and_grads(params, cell, x, y, mask, a0, many_to_one)[0]

    _, grads = loss_and_grads(params, cell, x, y, mask, a0, many_to_one)
    assert set(grads) == {"d" + k for k in params} | {"dx", "da0"} | (
        {"dc0"} if cell == "lstm" else set())
    for name, w in [*params.items(), ("x", x), ("a0", a0)]:
        assert grads["d" + name].shape == w.shape
        err = relative_error(grads["d" + name], numerical_gradient(loss, w))
        assert err < 1e-6, (cell, name, err)


def test_lstm_gradient_wrt_initial_memory_cell():
    params, x, a0, y, mask = problem("lstm", False)
    c0 = np.random.default_rng(1).normal(0, 0.5, (N_A, M))

    def loss_and_c0_grad():
        a, caches = FORWARD["lstm"](x, a0, params, c0)
        da = np.zeros_like(a)
        da[:, :, -1] = 1.0                             # loss = sum of the last hidden state
        return a[:, :, -1].sum(), BACKWARD["lstm"](da, caches)["dc0"]

    dc0 = loss_and_c0_grad()[1]
    assert relative_error(dc0, numerical_gradient(lambda: loss_and_c0_grad()[0], c0)) < 1e-6


@pytest.mark.parametrize("cell", CELLS)
def test_forward_shapes_and_parameter_shapes(cell):
    params = init_params(cell, N_X, N_A, np.random.default_rng(0), n_y=N_Y)
    n_in = N_X if cell == "rnn" else N_A + N_X
    for name in PARAM_NAMES[cell]:
        rows_cols = (N_A, 1) if name.startswith("b") else (N_A, N_A if name == "Waa" else n_in)
        assert params[name].shape == rows_cols
    a, _ = FORWARD[cell](np.zeros((N_X, M, T)), np.zeros((N_A, M)), params)
    assert a.shape == (N_A, M, T)
    layers = [(params, params), (init_params(cell, 2 * N_A, N_A, np.random.default_rng(1)),) * 2]
    assert deep_forward(np.ones((N_X, M, T)), layers, cell, bidirectional=True).shape == (
        2 * N_A, M, T)


def test_bidirectional_backward_half_reads_the_future():
    p = init_params("rnn", N_X, N_A, np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(N_X, M, T))
    a = bidirectional_forward(x, p, p, "rnn")
    x2 = x.copy()
    x2[:, :, -1] += 1.0                                # change only the last step
    a2 = bidirectional_forward(x2, p, p, "rnn")
    np.testing.assert_allclose(a[:N_A, :, :-1], a2[:N_A, :, :-1])  # forward: past unchanged
    assert not np.allclose(a[N_A:, :, 0], a2[N_A:, :, 0])          # backward: sees the change
    np.testing.assert_allclose(a[N_A:, :, ::-1], FORWARD["rnn"](x[:, :, ::-1], np.zeros(
        (N_A, M)), p)[0])


def global_norm(grads):
    return np.sqrt(sum((g ** 2).sum() for g in grads.values()))


@pytest.mark.parametrize("cell", CELLS)
def test_clip_by_global_norm_keeps_direction(cell):
    params, x, a0, y, mask = problem(cell, False)
    _, grads = loss_and_grads(params, cell, x, y, mask, a0)
    norm = global_norm(grads)
    clipped, reported = clip_by_global_norm(grads, norm / 3)
    assert reported == pytest.approx(norm)
    assert global_norm(clipped) == pytest.approx(norm / 3)
    for k in grads:                                    # same direction: a positive multiple
        np.testing.assert_allclose(clipped[k], grads[k] / 3)
    same, _ = clip_by_global_norm(grads, norm * 1.01)  # threshold above the norm: unchanged
    for k in grads:
        np.testing.assert_array_equal(same[k], grads[k])


def test_clip_by_value():
    grads = {"dW": np.array([[-3.0, 0.5], [2.0, -0.1]])}
    np.testing.assert_array_equal(clip_by_value(grads, 1.0)["dW"], [[-1.0, 0.5], [1.0, -0.1]])
    np.testing.assert_array_equal(clip_by_value(grads, 5.0)["dW"], grads["dW"])


def test_sgd_step_moves_against_the_gradient():
    params = {"W": np.array([1.0, 2.0])}
    sgd_step(params, {"dW": np.array([0.5, -1.0])}, lr=0.1)
    np.testing.assert_allclose(params["W"], [0.95, 2.1])


def constant_distribution_params(logits):
    """An RNN whose output ignores its state: every step draws from softmax(logits)."""
    p = init_params("rnn", len(logits), 3, np.random.default_rng(0), n_y=len(logits))
    p["Wya"][:] = 0
    p["by"] = np.asarray(logits, np.float64)[:, None]
    return p


def sample(p, cell, seed_ix, n, rng, temperature=1.0, top_k=None, stop_ix=None):
    """One sequence from course params, through the production path: the numpy engine over
    their export (`numpy_lm.export_numpy_params`) and `sampling.sample_sequences`."""
    from jazzgen.core.engine import NumpyEngine
    from jazzgen.core.models import ModelConfig
    from jazzgen.core.numpy_lm import export_numpy_params
    from jazzgen.core.sampling import sample_sequences

    n_y, n_a = p["Wya"].shape
    engine = NumpyEngine(ModelConfig(cell=cell, units=n_a, layers=1, embedding_dim=0),
                         export_numpy_params(cell, p), n_y, dtype=np.float64)
    return sample_sequences(engine, 1, rng, start_id=seed_ix, max_steps=n, temperature=temperature,
                            top_k=top_k or 0, stop_id=stop_ix)[0]


def test_sample_is_deterministic_for_a_seed():
    p = init_params("lstm", 6, 8, np.random.default_rng(0), n_y=6, scale=1.0)
    first = sample(p, "lstm", 0, 30, np.random.default_rng(42))
    assert first == sample(p, "lstm", 0, 30, np.random.default_rng(42))
    assert first != sample(p, "lstm", 0, 30, np.random.default_rng(43))
    assert len(first) == 30 and all(0 <= i < 6 for i in first)


def test_sample_respects_top_k_temperature_and_stop():
    logits = [0.0, 3.0, 1.0, 2.0, -1.0, 0.5]
    p = constant_distribution_params(logits)
    rng = np.random.default_rng(0)
    assert set(sample(p, "rnn", 0, 200, rng, top_k=2)) == {1, 3}  # the two largest only
    assert set(sample(p, "rnn", 0, 50, rng, top_k=1)) == {1}
    assert set(sample(p, "rnn", 0, 50, rng, temperature=0.01)) == {1}  # cold: argmax
    assert len(set(sample(p, "rnn", 0, 300, rng, temperature=100.0))) == 6  # hot: ~uniform
    drawn = sample(p, "rnn", 0, 500, rng, stop_ix=4)
    assert len(drawn) < 500 and 4 not in drawn  # it stopped at the first 4 (not returned)
    with pytest.raises(ValueError):
        sample(p, "rnn", 0, 5, rng, temperature=0.0)


def test_course_cells_match_keras_layout_cells():
    """params_from_keras turns Keras weights into course params with the same forward pass."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(M, T, N_X))                   # batch-first, as Keras
    blocks = {"rnn": 1, "gru": 3, "lstm": 4}
    for cell, k in blocks.items():
        weights = (rng.normal(size=(N_X, k * N_A)), rng.normal(size=(N_A, k * N_A)),
                   rng.normal(size=(k * N_A,)))        # GRU bias (3 n_a,): reset_after=False
        ours, _ = FORWARD[cell](x.transpose(2, 0, 1), np.zeros((N_A, M)),
                                params_from_keras(cell, *weights))
        theirs, _ = keras_sequence(cell, x, weights)
        np.testing.assert_allclose(ours.transpose(1, 2, 0), theirs, atol=1e-12)


def test_keras_steps_by_hand():
    """One step of each Keras-layout cell, with weights chosen to make the formula visible."""
    x, h, c = np.array([[1.0]]), np.array([[0.5]]), np.array([[2.0]])
    s = 1 / (1 + np.exp(-1.0))                         # sigmoid(1)
    assert keras_simplernn_step(x, h, np.array([[1.0]]), np.array([[2.0]]), np.zeros(1)) == (
        pytest.approx(np.tanh(2.0)))
    new_h, new_c = keras_lstm_step(x, h, c, np.ones((1, 4)), np.zeros((1, 4)), np.zeros(4))
    assert new_c == pytest.approx(s * 2.0 + s * np.tanh(1.0))  # f c + i tanh(c~)
    assert new_h == pytest.approx(s * np.tanh(new_c))
    # reset_after=True: the reset gate multiplies (h U_h + b_rec_h), here 0.5 * 1 + 1 = 1.5.
    bias = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    got = keras_gru_step(x, h, np.array([[0.0, 1.0, 0.0]]), np.array([[0.0, 0.0, 1.0]]), bias)
    z, r = 0.5, s
    assert got == pytest.approx(z * 0.5 + (1 - z) * np.tanh(r * 1.5))


def test_params_from_keras_refuses_reset_after_gru():
    with pytest.raises(ValueError, match="reset_after"):
        params_from_keras("gru", np.zeros((2, 6)), np.zeros((2, 6)), np.zeros((2, 6)))


@pytest.mark.parametrize("cell", CELLS)
def test_tiny_char_model_learns_a_toy_text(cell):
    """numpy BPTT + Adam + clipping lowers the loss on a repeated sentence."""
    text = "the cat sat on the mat. " * 8
    chars = sorted(set(text))
    ids = np.array([chars.index(ch) for ch in text])
    V, T_x, m = len(chars), 12, 8
    rng = np.random.default_rng(0)
    params = init_params(cell, V, 24, rng, n_y=V, scale=0.1)
    opt = Adam(lr=0.02)
    eye = np.eye(V)

    def batch():
        starts = rng.integers(0, len(ids) - T_x - 1, m)
        window = np.stack([ids[s: s + T_x + 1] for s in starts])        # (m, T_x + 1)
        return eye[window[:, :-1]].transpose(2, 0, 1), window[:, 1:]    # x (V, m, T_x), y

    losses = []
    for _ in range(150):
        x, y = batch()
        loss, grads = loss_and_grads(params, cell, x, y)
        grads, _ = clip_by_global_norm({"d" + k: grads["d" + k] for k in params}, 5.0)
        opt.step(params, grads)
        losses.append(loss)
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.4 * first, (first, last)
