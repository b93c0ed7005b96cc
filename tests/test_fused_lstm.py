"""FusedLSTM (one BlockLSTM op per sequence) against Keras' own LSTM loop: values and gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from jazzgen.core.fused_lstm import FusedLSTM, fusable

B, T, E, H = 4, 7, 5, 6


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
def test_fused_matches_keras_values_and_gradients(return_sequences, go_backwards):
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


def test_fused_path_is_taken_and_falls_back_where_it_must():
    plain, fused = twin_layers(5, return_sequences=True)
    assert fusable(fused, None, training=True)
    assert not fusable(fused, np.ones((B, T), bool), training=False)  # masks need Keras' loop
    graph = tf.function(lambda x: fused(x)[0]).get_concrete_function(tf.TensorSpec((B, T, E))).graph
    ops = {op.type for op in graph.get_operations()}
    assert "BlockLSTM" in ops and "While" not in ops and "StatelessWhile" not in ops
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
