"""Recurrent cells in numpy, written like the maths: forward, backward (BPTT) and Keras parity.

Two layouts live here, each for one job:

- The course reference (Coursera *Sequence Models* notation), for learning and gradient checks.
  Column-major, one column per example: an input sequence is `x` of shape (n_x, m, T_x), a hidden
  sequence `a` is (n_a, m, T_x), a weight `Wax` is (n_a, n_x) and `z = Wax @ x + Waa @ a + ba`.
  The GRU and LSTM gates read the concatenation `[a_prev; xt]` of shape (n_a + n_x, m). Every
  `*_backward` mirrors its `*_forward` line by line, in float64.
- The Keras layout, for inference and parity with the trained models: batch-first (`x` is
  (B, T, n_x)), weights as Keras stores them (`kernel` (n_x, k*n_a), `recurrent_kernel`
  (n_a, k*n_a), `bias`), gate blocks in Keras's column order (LSTM [i, f, c, o]; GRU [z, r, h]).
  `params_from_keras` converts one layer to the course notation.

Parameters are plain dicts of arrays; gradients are dicts whose keys are `"d" + name`.
"""

from __future__ import annotations

import numpy as np

CELLS = ("rnn", "gru", "lstm")
PARAM_NAMES = {
    "rnn": ("Wax", "Waa", "ba"),
    "gru": ("Wu", "Wr", "Wc", "bu", "br", "bc"),
    "lstm": ("Wf", "Wi", "Wc", "Wo", "bf", "bi", "bc", "bo"),
}


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function 1 / (1 + e^-z)."""
    return 1.0 / (1.0 + np.exp(-z))


def init_params(cell: str, n_x: int, n_a: int, rng: np.random.Generator,
                n_y: int | None = None, scale: float = 0.3) -> dict[str, np.ndarray]:
    """Random course-notation parameters for one recurrent layer (and the output layer if `n_y`).

    Args:
        cell: "rnn", "gru" or "lstm".
        n_x: input size; n_a: hidden size; n_y: output size (adds `Wya` (n_y, n_a), `by` (n_y, 1)).
        rng: random generator; scale: standard deviation of the weights (biases start at 0).
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    n_in = n_x if cell == "rnn" else n_a + n_x  # the gates of GRU/LSTM read [a_prev; xt]
    params = {}
    for name in PARAM_NAMES[cell]:
        if name.startswith("b"):
            params[name] = np.zeros((n_a, 1))                             # (n_a, 1)
        elif name == "Waa":
            params[name] = rng.normal(0.0, scale, (n_a, n_a))             # (n_a, n_a)
        else:
            params[name] = rng.normal(0.0, scale, (n_a, n_in))            # (n_a, n_in)
    if n_y is not None:
        params["Wya"] = rng.normal(0.0, scale, (n_y, n_a))                # (n_y, n_a)
        params["by"] = np.zeros((n_y, 1))                                 # (n_y, 1)
    return params


def hidden_size(p: dict[str, np.ndarray]) -> int:
    """n_a of a layer's params: every recurrent weight and bias has n_a rows."""
    return next(v.shape[0] for k, v in p.items() if k not in ("Wya", "by"))


# ---- basic RNN ------------------------------------------------------------------------------

def rnn_cell_forward(xt, a_prev, p):
    """One tanh step: xt (n_x, m), a_prev (n_a, m) -> a_next (n_a, m), cache."""
    a_next = np.tanh(p["Wax"] @ xt + p["Waa"] @ a_prev + p["ba"])       # (n_a, m)
    return a_next, (a_next, a_prev, xt, p)


def rnn_cell_backward(da_next, cache):
    """Gradients of one tanh step from da_next (n_a, m)."""
    a_next, a_prev, xt, p = cache
    dz = (1 - a_next ** 2) * da_next                                      # backprop through tanh
    return {
        "dxt": p["Wax"].T @ dz,                                           # (n_x, m)
        "da_prev": p["Waa"].T @ dz,                                       # (n_a, m)
        "dWax": dz @ xt.T,                                                # (n_a, n_x)
        "dWaa": dz @ a_prev.T,                                            # (n_a, n_a)
        "dba": dz.sum(axis=1, keepdims=True),                             # (n_a, 1)
    }


# ---- GRU (update gate Γu, relevance gate Γr) ------------------------------------------------

def gru_cell_forward(xt, a_prev, p):
    """One GRU step (course form, relevance gate applied before the matmul)."""
    n_a = a_prev.shape[0]
    concat = np.concatenate([a_prev, xt])                                 # (n_a + n_x, m)
    gu = sigmoid(p["Wu"] @ concat + p["bu"])                              # update gate Γu
    gr = sigmoid(p["Wr"] @ concat + p["br"])                              # relevance gate Γr
    concat_r = np.concatenate([gr * a_prev, xt])                          # [Γr * a_prev; xt]
    cc = np.tanh(p["Wc"] @ concat_r + p["bc"])                            # candidate c~
    a_next = gu * cc + (1 - gu) * a_prev                                  # (n_a, m)
    return a_next, (a_prev, xt, concat, concat_r, gu, gr, cc, n_a, p)


def gru_cell_backward(da_next, cache):
    """Gradients of one GRU step from da_next (n_a, m)."""
    a_prev, xt, concat, concat_r, gu, gr, cc, n_a, p = cache
    dcc = da_next * gu                                                    # a_next = Γu*c~ + ...
    dgu = da_next * (cc - a_prev)                                         # ... + (1-Γu)*a_prev
    da_prev = da_next * (1 - gu)
    dzc = dcc * (1 - cc ** 2)                                             # backprop through tanh
    dconcat_r = p["Wc"].T @ dzc                                           # (n_a + n_x, m)
    dgr = dconcat_r[:n_a] * a_prev                                        # through Γr * a_prev
    da_prev += dconcat_r[:n_a] * gr
    dzu = dgu * gu * (1 - gu)                                             # through sigmoid
    dzr = dgr * gr * (1 - gr)
    dconcat = p["Wu"].T @ dzu + p["Wr"].T @ dzr                           # (n_a + n_x, m)
    return {
        "dxt": dconcat_r[n_a:] + dconcat[n_a:],
        "da_prev": da_prev + dconcat[:n_a],
        "dWu": dzu @ concat.T, "dWr": dzr @ concat.T, "dWc": dzc @ concat_r.T,
        "dbu": dzu.sum(axis=1, keepdims=True), "dbr": dzr.sum(axis=1, keepdims=True),
        "dbc": dzc.sum(axis=1, keepdims=True),
    }


# ---- LSTM (forget Γf, update Γi, output Γo, memory cell c) ----------------------------------

def lstm_cell_forward(xt, a_prev, c_prev, p):
    """One LSTM step: returns a_next (n_a, m), c_next (n_a, m), cache."""
    n_a = a_prev.shape[0]
    concat = np.concatenate([a_prev, xt])                                 # (n_a + n_x, m)
    gf = sigmoid(p["Wf"] @ concat + p["bf"])                              # forget gate Γf
    gi = sigmoid(p["Wi"] @ concat + p["bi"])                              # update gate Γi
    cc = np.tanh(p["Wc"] @ concat + p["bc"])                              # candidate c~
    c_next = gf * c_prev + gi * cc                                        # memory cell
    go = sigmoid(p["Wo"] @ concat + p["bo"])                              # output gate Γo
    tc = np.tanh(c_next)
    a_next = go * tc                                                      # (n_a, m)
    return a_next, c_next, (c_prev, concat, gf, gi, cc, go, tc, n_a, p)


def lstm_cell_backward(da_next, dc_next, cache):
    """Gradients of one LSTM step from da_next and dc_next (both (n_a, m))."""
    c_prev, concat, gf, gi, cc, go, tc, n_a, p = cache
    dgo = da_next * tc                                                    # a_next = Γo * tanh(c)
    dc = dc_next + da_next * go * (1 - tc ** 2)                           # through tanh(c_next)
    dgf = dc * c_prev                                                     # c_next = Γf*c_prev
    dgi = dc * cc                                                         #        + Γi*c~
    dcc = dc * gi
    dc_prev = dc * gf
    dzf = dgf * gf * (1 - gf)                                             # through the sigmoids
    dzi = dgi * gi * (1 - gi)
    dzc = dcc * (1 - cc ** 2)                                             # through tanh
    dzo = dgo * go * (1 - go)
    dconcat = p["Wf"].T @ dzf + p["Wi"].T @ dzi + p["Wc"].T @ dzc + p["Wo"].T @ dzo
    grads = {"dxt": dconcat[n_a:], "da_prev": dconcat[:n_a], "dc_prev": dc_prev}
    for g, dz in (("f", dzf), ("i", dzi), ("c", dzc), ("o", dzo)):
        grads["dW" + g] = dz @ concat.T                                   # (n_a, n_a + n_x)
        grads["db" + g] = dz.sum(axis=1, keepdims=True)                   # (n_a, 1)
    return grads


# ---- whole sequences (forward over T_x steps, backprop through time) -------------------------

def rnn_forward(x, a0, p):
    """x (n_x, m, T_x), a0 (n_a, m) -> a (n_a, m, T_x), caches."""
    return _sequence_forward("rnn", x, a0, p)


def gru_forward(x, a0, p):
    """x (n_x, m, T_x), a0 (n_a, m) -> a (n_a, m, T_x), caches."""
    return _sequence_forward("gru", x, a0, p)


def lstm_forward(x, a0, p, c0=None):
    """x (n_x, m, T_x), a0 (n_a, m), c0 (n_a, m) or zeros -> a (n_a, m, T_x), caches."""
    return _sequence_forward("lstm", x, a0, p, c0)


def _sequence_forward(cell, x, a0, p, c0=None):
    """Run one cell over every step of `x`, keeping each step's cache for the backward pass."""
    n_x, m, T_x = x.shape
    a = np.zeros((a0.shape[0], m, T_x))                                  # (n_a, m, T_x)
    a_t, c_t = a0, (np.zeros_like(a0) if c0 is None else c0)
    caches = []
    for t in range(T_x):
        if cell == "lstm":
            a_t, c_t, cache = lstm_cell_forward(x[:, :, t], a_t, c_t, p)
        else:
            a_t, cache = CELL_FORWARD[cell](x[:, :, t], a_t, p)
        a[:, :, t] = a_t
        caches.append(cache)
    return a, (cell, caches, x)


def rnn_backward(da, caches):
    """da (n_a, m, T_x): dLoss/da<t> from the outputs -> dx, da0 and every parameter gradient."""
    return _sequence_backward(da, caches)


def gru_backward(da, caches):
    """BPTT for the GRU; same contract as `rnn_backward`."""
    return _sequence_backward(da, caches)


def lstm_backward(da, caches):
    """BPTT for the LSTM; same contract as `rnn_backward`, plus dc0."""
    return _sequence_backward(da, caches)


def _sequence_backward(da, caches):
    """Walk the steps backwards, adding the output gradient to the one from step t+1."""
    cell, step_caches, x = caches
    n_a, m, T_x = da.shape
    grads = {"dx": np.zeros_like(x)}                                     # (n_x, m, T_x)
    da_next = np.zeros((n_a, m))                                         # from step t+1
    dc_next = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        if cell == "lstm":
            g = lstm_cell_backward(da[:, :, t] + da_next, dc_next, step_caches[t])
            dc_next = g.pop("dc_prev")
        else:
            g = CELL_BACKWARD[cell](da[:, :, t] + da_next, step_caches[t])
        grads["dx"][:, :, t] = g.pop("dxt")
        da_next = g.pop("da_prev")
        for k, v in g.items():                                           # parameters are shared
            grads[k] = grads.get(k, 0) + v                               # across steps: sum
    grads["da0"] = da_next
    if cell == "lstm":
        grads["dc0"] = dc_next
    return grads


CELL_FORWARD = {"rnn": rnn_cell_forward, "gru": gru_cell_forward}
FORWARD = {"rnn": rnn_forward, "gru": gru_forward, "lstm": lstm_forward}
BACKWARD = {"rnn": rnn_backward, "gru": gru_backward, "lstm": lstm_backward}
CELL_BACKWARD = {"rnn": rnn_cell_backward, "gru": gru_cell_backward}


def bidirectional_forward(x, p_fwd, p_bwd, cell):
    """Read x (n_x, m, T_x) both ways from zero states -> a (2 n_a, m, T_x): [forward; backward].

    The backward pass reads the reversed sequence; its outputs are reversed back so that
    column t holds what each direction knows at step t (Keras `Bidirectional`, merge "concat").
    """
    n_a, m = hidden_size(p_fwd), x.shape[1]
    a_f, _ = FORWARD[cell](x, np.zeros((n_a, m)), p_fwd)                 # (n_a, m, T_x)
    a_b, _ = FORWARD[cell](x[:, :, ::-1], np.zeros((n_a, m)), p_bwd)     # reversed time
    return np.concatenate([a_f, a_b[:, :, ::-1]], axis=0)                # (2 n_a, m, T_x)


def deep_forward(x, layers, cell, bidirectional=False):
    """Stacked layers, each reading the hidden sequence of the one below, from zero states.

    Args:
        x: (n_x, m, T_x) input sequence.
        layers: one params dict per layer, or a (forward, backward) pair per layer if bidirectional.
        cell: "rnn", "gru" or "lstm".
    Returns:
        The top layer's hidden sequence, (n_a, m, T_x) or (2 n_a, m, T_x) if bidirectional.
    """
    a = x
    for p in layers:
        if bidirectional:
            a = bidirectional_forward(a, p[0], p[1], cell)
        else:
            a, _ = FORWARD[cell](a, np.zeros((hidden_size(p), a.shape[1])), p)
    return a


# ---- Keras layout: batch-first, weights as Keras stores them ---------------------------------

def keras_simplernn_step(x, h, kernel, recurrent_kernel, bias):
    """SimpleRNN step: x (B, n_x), h (B, n_a) -> h (B, n_a)."""
    return np.tanh(x @ kernel + h @ recurrent_kernel + bias)


def keras_gru_step(x, h, kernel, recurrent_kernel, bias):
    """GRU step; bias (2, 3 n_a) means reset_after=True (Keras default), (3 n_a,) means False."""
    n = h.shape[-1]
    reset_after = bias.ndim == 2
    b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, np.zeros_like(bias))
    xz, xr, xh = np.split(x @ kernel + b_in, 3, axis=-1)                 # each (B, n_a)
    rz, rr = np.split(h @ recurrent_kernel[:, : 2 * n] + b_rec[: 2 * n], 2, axis=-1)
    z = sigmoid(xz + rz)                                                 # Keras's update gate
    r = sigmoid(xr + rr)                                                 # reset gate
    if reset_after:
        hh = np.tanh(xh + r * (h @ recurrent_kernel[:, 2 * n:] + b_rec[2 * n:]))
    else:
        hh = np.tanh(xh + (r * h) @ recurrent_kernel[:, 2 * n:])
    return z * h + (1 - z) * hh                                          # note: z keeps the OLD h


def keras_lstm_step(x, h, c, kernel, recurrent_kernel, bias):
    """LSTM step with Keras's [i, f, c, o] blocks -> (h, c), each (B, n_a)."""
    zi, zf, zc, zo = np.split(x @ kernel + h @ recurrent_kernel + bias, 4, axis=-1)
    c = sigmoid(zf) * c + sigmoid(zi) * np.tanh(zc)
    return sigmoid(zo) * np.tanh(c), c


def keras_step(cell, x, state, weights):
    """One step of any cell; `state` is a tuple ((h,) or (h, c)); weights (kernel, rec, bias)."""
    if cell == "lstm":
        return keras_lstm_step(x, *state, *weights)
    step = keras_gru_step if cell == "gru" else keras_simplernn_step
    return (step(x, state[0], *weights),)


def keras_sequence(cell, x, weights, state=None, reverse=False):
    """Run one Keras-layout layer over x (B, T, n_x) -> (outputs (B, T, n_a), final state).

    With `reverse`, reads the sequence backwards (Keras `go_backwards`) and returns the outputs
    in the original time order, as `Bidirectional` does. No masking: every step is real.
    """
    B, T, _ = x.shape
    n_a = weights[1].shape[0]
    if state is None:
        state = tuple(np.zeros((B, n_a), x.dtype) for _ in range(2 if cell == "lstm" else 1))
    out = np.zeros((B, T, n_a), x.dtype)
    for t in (reversed(range(T)) if reverse else range(T)):
        state = keras_step(cell, x[:, t], state, weights)
        out[:, t] = state[0]
    return out, state


def params_from_keras(cell, kernel, recurrent_kernel, bias):
    """One Keras-layout layer -> course-notation params (float64). GRU needs reset_after=False.

    Keras's GRU keeps the old state with its gate z (h = z h_prev + (1-z) h~) where the course's
    Γu takes the new candidate, so Γu = 1 - z = σ(-z_pre): its weights and bias change sign.
    """
    k, rk, b = (np.asarray(w, np.float64) for w in (kernel, recurrent_kernel, bias))
    if cell == "rnn":
        return {"Wax": k.T, "Waa": rk.T, "ba": b[:, None]}
    if cell == "gru" and b.ndim == 2:
        raise ValueError("the course GRU applies the relevance gate first: use reset_after=False")
    names = {"gru": ("u", "r", "c"), "lstm": ("i", "f", "c", "o")}[cell]  # Keras column order
    n = rk.shape[0]
    params = {}
    for j, g in enumerate(names):
        cols = slice(j * n, (j + 1) * n)
        sign = -1.0 if (cell, g) == ("gru", "u") else 1.0
        params["W" + g] = sign * np.concatenate([rk[:, cols].T, k[:, cols].T], axis=1)  # [a; x]
        params["b" + g] = sign * b[cols][:, None]
    return params
