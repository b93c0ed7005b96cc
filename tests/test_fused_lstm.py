"""FusedLSTM's two fused paths (one BlockLSTM op; the split input matmul + recurrence loop)
against Keras' own LSTM loop and the numpy BPTT reference: values and gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import jazzgen.core.fused_lstm as fused_lstm
from jazzgen.core.fused_lstm import FusedLSTM, fusable, split_lstm
from jazzgen.core.numpy_rnn import lstm_backward, lstm_forward, params_from_keras

B, T, E, H = 4, 7, 5, 6


@pytest.fixture(params=["block", "split"])
def path(request, monkeypatch):
    """Runs a test once with each fused path: BlockLSTM, and split_lstm (forced at this size)."""
    monkeypatch.setattr(fused_lstm, "SPLIT_MIN_UNITS", 10**9 if request.param == "block" else 1)
    return request.param


def twin_layers(seed: int, **kw):
    """A Keras LSTM and a FusedLSTM with the same (randomised, non-zero-bias) weights."""
    keras.utils.set_random_seed(seed)
    plain = keras.layers.LSTM(H, return_state=True, **kw)
    fused = FusedLSTM(H, return_state=True, **kw)
    x = np.zeros((B, T, E), np.float32)
    plain(x), fused(x)
    rng = np.random.default_rng(seed)
    weights = [w + rng.normal(0, 0.5, w.shape).astype(np.float32) for w in plain.get_weights()]
    plain.set_weights(weights)
    fused.set_weights(weights)
    return plain, fused


def inputs(seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, E)).astype(np.float32)
    h0, c0 = rng.normal(size=(2, B, H)).astype(np.float32)
    return tf.constant(x), tf.constant(h0), tf.constant(c0)


def loss_and_grads(layer, x, h0, c0):
    """A loss touching every output (sequence, h, c) and its gradients wrt inputs and weights."""
    with tf.GradientTape() as tape:
        tape.watch([x, h0, c0])
        out, h, c = layer(x, initial_state=[h0, c0])
        loss = tf.reduce_sum(tf.sin(out)) + tf.reduce_sum(h * c) + tf.reduce_sum(c ** 2)
    return loss, tape.gradient(loss, [x, h0, c0, *layer.trainable_variables])


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_matches_keras_values_and_gradients(return_sequences, go_backwards, path):
    plain, fused = twin_layers(3, return_sequences=return_sequences, go_backwards=go_backwards)
    x, h0, c0 = inputs(4)
    for a, b in zip(plain(x, initial_state=[h0, c0]), fused(x, initial_state=[h0, c0]), strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    loss_a, grads_a = loss_and_grads(plain, x, h0, c0)
    loss_b, grads_b = loss_and_grads(fused, x, h0, c0)
    np.testing.assert_allclose(float(loss_a), float(loss_b), rtol=1e-5)
    for name, ga, gb in zip(["x", "h0", "c0", "kernel", "recurrent", "bias"], grads_a, grads_b, strict=True):
        scale = float(np.abs(np.asarray(ga)).max())
        assert scale > 0, name
        np.testing.assert_allclose(np.asarray(ga), np.asarray(gb), atol=1e-5 * max(scale, 1.0), err_msg=name)


def test_fused_path_is_taken_and_falls_back_where_it_must(path):
    plain, fused = twin_layers(5, return_sequences=True)
    assert fusable(fused, None, training=True)
    assert not fusable(fused, np.ones((B, T), bool), training=False)  # masks need Keras' loop
    graph = tf.function(lambda x: fused(x)[0]).get_concrete_function(tf.TensorSpec((B, T, E))).graph
    ops = {op.type for op in graph.get_operations()}
    if path == "block":
        assert "BlockLSTM" in ops and "While" not in ops and "StatelessWhile" not in ops
    else:  # one loop over time (no Keras cell inside it), no BlockLSTM
        assert "BlockLSTM" not in ops and len(ops & {"While", "StatelessWhile"}) == 1
    # with a mask the layer takes Keras' loop and still agrees with the plain layer
    x, _, _ = inputs(6)
    mask = np.ones((B, T), bool)
    mask[0, 4:] = False
    np.testing.assert_allclose(np.asarray(plain(x, mask=mask)[0]), np.asarray(fused(x, mask=mask)[0]), atol=1e-6)
    dropped = FusedLSTM(H, dropout=0.5)
    dropped(np.zeros((B, T, E), np.float32))
    assert not fusable(dropped, None, training=True) and fusable(dropped, None, training=False)


def test_build_models_trains_through_the_fused_op_and_steps_through_the_same_layer():
    from jazzgen.core.models import ModelConfig, build_models

    models = build_models(ModelConfig(units=H, embedding_dim=E, layers=2), 11)
    layers = [models.train.get_layer(f"lstm_{i}") for i in range(2)]
    assert all(isinstance(layer, FusedLSTM) for layer in layers)
    assert all(any(layer is s for s in models.step.layers) for layer in layers)  # shared, not copied
    ids = tf.TensorSpec((B, T), tf.int32)
    graph = tf.function(lambda x: models.train(x)).get_concrete_function(ids).graph
    assert sum(op.type == "BlockLSTM" for op in graph.get_operations()) == 2


def test_the_default_width_takes_the_split_path_and_the_course_width_blocklstm():
    def op_types(units):
        layer = FusedLSTM(units, return_sequences=True)
        spec = tf.TensorSpec((B, T, E))
        return {op.type for op in tf.function(layer).get_concrete_function(spec).graph.get_operations()}

    assert "BlockLSTM" in op_types(64)        # the course's n_a: one op wins on per-op overhead
    assert "BlockLSTM" not in op_types(256)   # the default model's n_a: split_lstm


@pytest.mark.parametrize("parts", [1, 2, 3])  # 3: row slices of 1, 1 and 2 windows
def test_split_lstm_matches_the_numpy_bptt_reference(parts):
    """Values and every gradient of split_lstm equal the course-notation numpy LSTM's (float64)."""
    rng = np.random.default_rng(7)
    kernel, recurrent, bias = (rng.normal(0, 0.5, s) for s in ((E, 4 * H), (H, 4 * H), (4 * H,)))
    x = rng.normal(size=(T, B, E))
    h0, c0 = rng.normal(size=(2, B, H))
    d_hs = rng.normal(size=(T, B, H))                 # dLoss/dh_t: loss = sum(d_hs * hs)
    args = [tf.constant(a, tf.float32) for a in (x, h0, c0, kernel, recurrent, bias)]
    with tf.GradientTape() as tape:
        tape.watch(args)
        hs, last_h, _ = split_lstm(*args, parts=parts)
        loss = tf.reduce_sum(hs * d_hs)
    dx, dh0, dc0, d_kernel, d_recurrent, d_bias = tape.gradient(loss, args)

    p = params_from_keras("lstm", kernel, recurrent, bias)   # W_g: (n_a, n_a + n_x) over [a; x]
    a, caches = lstm_forward(x.transpose(2, 1, 0), h0.T, p, c0.T)      # (n_a, m, T_x)
    g = lstm_backward(d_hs.transpose(2, 1, 0), caches)
    close = dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(hs), a.transpose(2, 1, 0), **close)
    np.testing.assert_allclose(np.asarray(last_h), a[:, :, -1].T, **close)
    np.testing.assert_allclose(np.asarray(dx), g["dx"].transpose(2, 1, 0), **close)
    np.testing.assert_allclose(np.asarray(dh0), g["da0"].T, **close)
    np.testing.assert_allclose(np.asarray(dc0), g["dc0"].T, **close)
    for j, gate in enumerate("ifco"):                 # Keras' column blocks, IFCO
        cols = slice(j * H, (j + 1) * H)
        np.testing.assert_allclose(np.asarray(d_recurrent)[:, cols], g["dW" + gate][:, :H].T, **close)
        np.testing.assert_allclose(np.asarray(d_kernel)[:, cols], g["dW" + gate][:, H:].T, **close)
        np.testing.assert_allclose(np.asarray(d_bias)[cols], g["db" + gate][:, 0], **close)
