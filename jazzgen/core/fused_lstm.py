"""A Keras LSTM whose time loop runs as fused TensorFlow ops on the CPU, not Keras' cell loop.

Keras' LSTM runs its time loop as a `tf.while_loop` of ~15 small ops per step (and ~30 more per
step in the gradient); at small sizes each op's fixed cost, not the arithmetic, sets the speed,
and tracing that loop and its gradient is most of a short run's first epoch. On a GPU Keras
swaps in cuDNN's fused kernel. This layer does the same on the CPU, two ways:

- `block_lstm` (small widths, e.g. the course's 64 units): TensorFlow's own fused kernel,
  `BlockLSTM` (forward over all steps in one op, and its registered gradient op);
- `split_lstm` (from `SPLIT_MIN_UNITS`, e.g. the default model's 256): the input matmul for all
  steps and every weight gradient as ONE large matmul each, only h @ recurrent_kernel in a
  `tf.while_loop`, with a hand-written gradient (see its doc).

Either way it is the very same layer: same weights, names and initialisers, same maths (Keras'
IFCO gate order, sigmoid gates, tanh cell, no peepholes, no clipping), so exports, the numpy
engine and the step model are unchanged. Where neither can do what was asked (a mask, dropout
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
    """`keras.layers.LSTM` with its CPU time loop fused (`block_lstm` or `split_lstm`, module doc)."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        import tensorflow as tf

        if not fusable(self, mask, training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        cell = self.cell
        x = tf.transpose(sequences, (1, 0, 2))                       # (T, B, E) time-major
        if self.go_backwards:
            x = tf.reverse(x, axis=[0])
        h0, c0 = initial_state                                       # (B, n_a) each
        if cell.units >= SPLIT_MIN_UNITS and x.shape[0] != 1:  # one step: no loop to split
            h, last_h, last_c = split_lstm(x, h0, c0, cell.kernel.value,
                                           cell.recurrent_kernel.value, cell.bias.value)
        else:
            h, last_h, last_c = block_lstm(x, h0, c0, cell.kernel.value,
                                           cell.recurrent_kernel.value, cell.bias.value)
        if self.return_sequences:
            outputs = tf.transpose(h, (1, 0, 2))                     # (B, T, n_a)
        else:
            outputs = tf.expand_dims(last_h, axis=1)                 # Keras' own shape here
        return last_h, outputs, [last_h, last_c]


def block_lstm(x, h0, c0, kernel, recurrent_kernel, bias):
    """Keras' LSTM over a whole sequence as ONE `BlockLSTM` op (and one `BlockLSTMGrad`).

    Args and returns as `split_lstm`.
    """
    import tensorflow as tf

    w = tf.concat([kernel, recurrent_kernel], axis=0)                  # (E + n_a, 4 n_a)
    w_i, w_f, w_c, w_o = tf.split(w, 4, axis=1)
    b_i, b_f, b_c, b_o = tf.split(bias, 4)
    no_peephole = tf.zeros([recurrent_kernel.shape[0]], x.dtype)
    _, cs, _, _, _, _, h = tf.raw_ops.BlockLSTM(
        seq_len_max=tf.shape(x, out_type=tf.int64)[0], x=x, cs_prev=c0, h_prev=h0,
        w=tf.concat([w_i, w_c, w_f, w_o], axis=1), b=tf.concat([b_i, b_c, b_f, b_o], axis=0),
        wci=no_peephole, wcf=no_peephole, wco=no_peephole,
        forget_bias=0.0, cell_clip=-1.0, use_peephole=False)         # h, cs: (T, B, n_a)
    return h, h[-1], cs[-1]


SPLIT_MIN_UNITS = 128  # from this width on, `split_lstm` beats BlockLSTM (see its doc)
LOOP_PARTS = 2  # slices of the batch whose recurrences run side by side (see `split_lstm`)


def split_lstm(x, h0, c0, kernel, recurrent_kernel, bias, parts: int = LOOP_PARTS):
    """Keras' LSTM over a whole sequence, with the input matmul taken out of the time loop.

    BlockLSTM multiplies [x_t; h] by all weights at every step, and its gradient accumulates the
    weight gradients step by step in products that contract over only B rows. Here only
    h @ recurrent_kernel stays in the loop; x @ kernel for all steps, and every weight gradient,
    are ONE large matmul each. The elementwise backward factors are computed for all steps at
    once after the forward, so each backward step is a handful of ops around its
    (B, 4 n_a) @ (4 n_a, n_a) matmul. Each step's ops are too small for TensorFlow to spread
    over cores, so the batch is cut into `parts` row slices whose (independent) recurrences
    run side by side on the inter-op threads: the loops take ~2/3 of the time on 2 cores.
    Rows never mix, so the values are the same for any `parts`.
    Benchmarks (docs/benchmarks.md): worth it at the default size (n_a 256), not at the
    course's (n_a 64), where BlockLSTM's single op wins on per-op overhead.

    Args:
        x: (T, B, E) time-major inputs; h0, c0: (B, n_a) initial states.
        kernel (E, 4 n_a), recurrent_kernel (n_a, 4 n_a), bias (4 n_a,): Keras' weights, IFCO.
        parts: row slices of the batch run side by side (>= 1).
    Returns:
        hs (T, B, n_a): h after every step; last h (B, n_a); last c (B, n_a).
    """
    import tensorflow as tf

    n = x.shape[-1] if x.shape[-1] is not None else tf.shape(x)[-1]
    units = recurrent_kernel.shape[0]

    @tf.custom_gradient
    def run(x, h0, c0, kernel, recurrent_kernel, bias):
        steps, batch = tf.shape(x)[0], tf.shape(x)[1]
        rows = [slice(batch * k // parts, batch * (k + 1) // parts) for k in range(parts)]
        x_flat = tf.reshape(x, (-1, n))                                       # (T B, E)
        zx = tf.reshape(tf.matmul(x_flat, kernel) + bias, (steps, batch, 4 * units))  # (T, B, 4 n_a)

        def array(width):
            return tf.TensorArray(tf.float32, size=steps, element_shape=(None, width))

        def step(t, h, c, zs, cs, hs):  # lists, one entry per part
            for k, r in enumerate(rows):
                z = zx[t, r] + tf.matmul(h[k], recurrent_kernel)              # (b, 4 n_a) IFCO
                i, f, _, o = tf.split(tf.sigmoid(z), 4, axis=1)               # (b, n_a) each
                c[k] = f * c[k] + i * tf.tanh(z[:, 2 * units: 3 * units])
                h[k] = o * tf.tanh(c[k])
                zs[k], cs[k], hs[k] = zs[k].write(t, z), cs[k].write(t, c[k]), hs[k].write(t, h[k])
            return t + 1, h, c, zs, cs, hs

        _, _, _, zs, cs, hs = tf.while_loop(
            lambda t, *_: t < steps, step,
            (tf.constant(0), [h0[r] for r in rows], [c0[r] for r in rows],
             [array(4 * units) for _ in rows], [array(units) for _ in rows],
             [array(units) for _ in rows]))
        zs, cs, hs = (tf.concat([a.stack() for a in arrays], axis=1)
                      for arrays in (zs, cs, hs))                             # (T, B, .)

        def grad(d_hs, d_h_last=None, d_c_last=None):  # d_hs: dLoss/dh_t from the outputs
            d_hs = tf.zeros_like(hs) if d_hs is None else d_hs
            # forward values for all steps at once (the same ops as in the loop)
            i, f, _, o = tf.split(tf.sigmoid(zs), 4, axis=2)                  # (T, B, n_a)
            g = tf.tanh(zs[..., 2 * units: 3 * units])                        # cell candidate
            tanh_c = tf.tanh(cs)
            c_prev = tf.concat([c0[None], cs[:-1]], axis=0)
            h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
            dc_from_dh = o * (1 - tanh_c * tanh_c)                            # dc_t/dh_t
            # dz = [dc, dc, dc, dh] * factors: back through the gates' products and activations
            factors = tf.concat([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g),
                                 tanh_c * o * (1 - o)], axis=2)               # (T, B, 4 n_a)
            recurrent_t = tf.transpose(recurrent_kernel)                      # (4 n_a, n_a)

            def back(t, dh, dc, dzs):  # dh, dc: from step t + 1 into step t, per part
                s = steps - 1 - t
                for k, r in enumerate(rows):
                    dh_k = dh[k] + d_hs[s, r]
                    dc_k = dc[k] + dh_k * dc_from_dh[s, r]
                    dz = tf.concat([dc_k, dc_k, dc_k, dh_k], axis=1) * factors[s, r]  # (b, 4 n_a)
                    dh[k], dc[k] = tf.matmul(dz, recurrent_t), dc_k * f[s, r]
                    dzs[k] = dzs[k].write(s, dz)
                return t + 1, dh, dc, dzs

            dh_last = tf.zeros_like(h0) if d_h_last is None else d_h_last
            dc_last = tf.zeros_like(c0) if d_c_last is None else d_c_last
            _, dh0, dc0, dzs = tf.while_loop(
                lambda t, *_: t < steps, back,
                (tf.constant(0), [dh_last[r] for r in rows], [dc_last[r] for r in rows],
                 [array(4 * units) for _ in rows]))
            dz = tf.reshape(tf.concat([a.stack() for a in dzs], axis=1), (-1, 4 * units))  # (T B, 4 n_a)
            dx = tf.reshape(tf.matmul(dz, kernel, transpose_b=True), tf.shape(x))
            d_kernel = tf.matmul(x_flat, dz, transpose_a=True)                # (E, 4 n_a)
            d_recurrent = tf.matmul(tf.reshape(h_prev, (-1, units)), dz, transpose_a=True)
            return (dx, tf.concat(dh0, axis=0), tf.concat(dc0, axis=0), d_kernel, d_recurrent,
                    tf.reduce_sum(dz, axis=0))

        return (hs, hs[-1], cs[-1]), grad

    return run(x, h0, c0, kernel, recurrent_kernel, bias)
