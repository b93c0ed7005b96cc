"""Training the numpy reference RNNs: output layer, loss, clipping and optimizers.

Course notation and layout as in `numpy_rnn` (one column per example: a is (n_a, m, T_x)).
Everything is float64 so that gradient checks can ask for a relative error below 1e-6.
"""

from __future__ import annotations

import numpy as np

from jazzgen.core.numpy_rnn import BACKWARD, FORWARD, hidden_size
from jazzgen.core.scoring import log_softmax

# ---- output layer ---------------------------------------------------------------------------

def output_forward(a, p):
    """Logits y = Wya a + by for a (n_a, m) or (n_a, m, T_x) -> (n_y, m[, T_x]), cache."""
    logits = np.tensordot(p["Wya"], a, axes=1)                            # (n_y, m[, T_x])
    logits += p["by"].reshape((-1,) + (1,) * (a.ndim - 1))                 # by broadcast over m, T
    return logits, (a, p)


def output_backward(dlogits, cache):
    """Gradients of the output layer -> (da, dWya, dby)."""
    a, p = cache
    rest = tuple(range(1, a.ndim))                                        # the m (and T_x) axes
    da = np.tensordot(p["Wya"].T, dlogits, axes=1)                        # (n_a, m[, T_x])
    dWya = np.tensordot(dlogits, a, axes=(rest, rest))                    # (n_y, n_a)
    dby = dlogits.sum(axis=rest).reshape(-1, 1)                           # (n_y, 1)
    return da, dWya, dby


# ---- loss -----------------------------------------------------------------------------------

def softmax_cross_entropy(logits, targets, mask=None):
    """Cross-entropy of softmax(logits), summed over steps and averaged over the m examples.

    Args:
        logits: (n_y, m, T_x) for many-to-many, or (n_y, m) for many-to-one.
        targets: int class ids, (m, T_x) or (m,).
        mask: optional 0/1 weights shaped like `targets`; masked steps add nothing.
    Returns:
        (loss, dloss/dlogits with the shape of logits).
    """
    m = targets.shape[0]
    w = np.ones(targets.shape) if mask is None else np.asarray(mask, np.float64)
    logp = log_softmax(logits, axis=0)                                    # classes are rows
    index = (targets, *np.indices(targets.shape))                         # logp[target, i, t]
    loss = -(w * logp[index]).sum() / m
    dlogits = np.exp(logp)                                                # softmax ...
    dlogits[index] -= 1                                                   # ... minus one-hot
    return loss, dlogits * w / m                                          # masked, averaged


def loss_and_grads(params, cell, x, targets, mask=None, a0=None, many_to_one=False):
    """Forward, loss and backward through the whole model, as one function.

    Args:
        params: one layer's params plus the output layer (`Wya`, `by`).
        cell: "rnn", "gru" or "lstm".
        x: (n_x, m, T_x) inputs (one-hot or real vectors).
        targets: (m, T_x) ids for many-to-many, (m,) for many-to-one (read at the last step).
        mask: optional (m, T_x) 0/1 weights for many-to-many.
        a0: initial hidden state (n_a, m); zeros by default.
    Returns:
        (loss, grads) with `dx`, `da0` (and `dc0`) and `"d" + name` for every parameter.
    """
    m = x.shape[1]
    a0 = np.zeros((hidden_size(params), m)) if a0 is None else a0
    a, caches = FORWARD[cell](x, a0, params)                              # (n_a, m, T_x)
    h = a[:, :, -1] if many_to_one else a                                 # last state, or all
    logits, out_cache = output_forward(h, params)
    loss, dlogits = softmax_cross_entropy(logits, targets, mask)
    dh, dWya, dby = output_backward(dlogits, out_cache)
    if many_to_one:
        da = np.zeros_like(a)
        da[:, :, -1] = dh                                                 # only a<T_x> was read
    else:
        da = dh
    grads = BACKWARD[cell](da, caches)
    grads.update(dWya=dWya, dby=dby)
    return loss, grads


# ---- clipping and optimizers ----------------------------------------------------------------

def clip_by_value(grads, max_value):
    """Clip every entry of every gradient to [-max_value, max_value] (the course's `clip`)."""
    return {k: np.clip(g, -max_value, max_value) for k, g in grads.items()}


def clip_by_global_norm(grads, max_norm):
    """Scale all gradients together so their joint L2 norm is at most `max_norm`.

    Unlike clipping by value, this keeps the direction of the update.
    Returns:
        (clipped grads, the global norm before clipping), like `tf.clip_by_global_norm`.
    """
    norm = float(np.sqrt(sum(float((g ** 2).sum()) for g in grads.values())))
    scale = max_norm / norm if norm > max_norm else 1.0
    return {k: g * scale for k, g in grads.items()}, norm


def sgd_step(params, grads, lr):
    """In place: W -= lr * dW for every parameter. Returns `params`."""
    for k in params:
        params[k] -= lr * grads["d" + k]
    return params


class Adam:
    """Adam (Kingma & Ba): per-parameter steps from running means of g and g², bias-corrected."""

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m: dict[str, np.ndarray] = {}  # first moment (mean of g), per parameter
        self.v: dict[str, np.ndarray] = {}  # second moment (mean of g²), per parameter
        self.t = 0                          # steps taken, for the bias correction

    def step(self, params, grads):
        """In place: one Adam update of every parameter. Returns `params`."""
        self.t += 1
        for k, w in params.items():
            g = grads["d" + k]
            self.m[k] = self.beta1 * self.m.get(k, 0.0) + (1 - self.beta1) * g
            self.v[k] = self.beta2 * self.v.get(k, 0.0) + (1 - self.beta2) * g ** 2
            m_hat = self.m[k] / (1 - self.beta1 ** self.t)
            v_hat = self.v[k] / (1 - self.beta2 ** self.t)
            w -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return params
