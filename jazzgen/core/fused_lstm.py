"""A Keras LSTM whose whole time loop is ONE TensorFlow op on the CPU.

Keras' LSTM runs its time loop as a `tf.while_loop` of ~15 small ops per step (and ~30 more per
step in the gradient); at small sizes each op's fixed cost, not the arithmetic, sets the speed,
and tracing that loop and its gradient is most of a short run's first epoch. On a GPU Keras
swaps in cuDNN's fused kernel. This layer does the same on the CPU with TensorFlow's own fused
kernel, `BlockLSTM` (forward over all steps in one op, and its registered gradient op), and is
otherwise the very same layer: same weights, names and initialisers, same maths (Keras' IFCO
gate order, sigmoid gates, tanh cell, no peepholes, no clipping), so exports, the numpy engine
and the step model are unchanged. Where the fused op cannot do what was asked (a mask, dropout
inside the cell, unrolling, non-default activations, another backend) it falls back to Keras.

One trap: the batch must not be empty when gradients are taken. The gradient kernel's matmuls
then contract over zero rows, which leaves the weight gradient as uninitialised memory (NaN
weights at random). `fit` never makes an empty batch; `distributed` hands an idle replica one
all-padding window instead (its loss and gradient are exactly zero). Padding every batch by a
row instead would cost ~10% at the course's size.

Why `BlockLSTM` and not `BlockLSTMV2` (whose gate order is Keras' own): TensorFlow registers
V1's gradient for V2 as well, which gives wrong gradients for V2's gate order; V1 with the
columns reordered to its ICFO layout is right (checked against Keras in tests/test_models.py).
"""

from __future__ import annotations

import keras
from keras import activations


def fusable(layer: keras.layers.LSTM, mask, training: bool) -> bool:
    """Whether `BlockLSTM` computes exactly what Keras' loop would for this call."""
    cell = layer.cell
    return (keras.backend.backend() == "tensorflow"
            and mask is None
            and not layer.unroll
            and cell.use_bias
            and cell.activation is activations.tanh
            and cell.recurrent_activation is activations.sigmoid
            and not (training and (cell.dropout or cell.recurrent_dropout))
            and layer.cell.compute_dtype == "float32")


@keras.saving.register_keras_serializable(package="jazzgen")
class FusedLSTM(keras.layers.LSTM):
    """`keras.layers.LSTM` with its CPU time loop fused into one `BlockLSTM` op (see module doc)."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        import tensorflow as tf

        if not fusable(self, mask, training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        cell = self.cell
        x = tf.transpose(sequences, (1, 0, 2))                       # (T, B, E) time-major
        if self.go_backwards:
            x = tf.reverse(x, axis=[0])
        h0, c0 = initial_state                                       # (B, n_a) each
        w = tf.concat([cell.kernel.value, cell.recurrent_kernel.value], axis=0)  # (E + n_a, 4 n_a)
        w_i, w_f, w_c, w_o = tf.split(w, 4, axis=1)
        b_i, b_f, b_c, b_o = tf.split(cell.bias.value, 4)
        no_peephole = tf.zeros([cell.units], x.dtype)
        _, cs, _, _, _, _, h = tf.raw_ops.BlockLSTM(
            seq_len_max=tf.shape(x, out_type=tf.int64)[0], x=x, cs_prev=c0, h_prev=h0,
            w=tf.concat([w_i, w_c, w_f, w_o], axis=1), b=tf.concat([b_i, b_c, b_f, b_o], axis=0),
            wci=no_peephole, wcf=no_peephole, wco=no_peephole,
            forget_bias=0.0, cell_clip=-1.0, use_peephole=False)     # h, cs: (T, B, n_a)
        last_h, last_c = h[-1], cs[-1]
        if self.return_sequences:
            outputs = tf.transpose(h, (1, 0, 2))                     # (B, T, n_a)
        else:
            outputs = tf.expand_dims(last_h, axis=1)                 # Keras' own shape here
        return last_h, outputs, [last_h, last_c]
