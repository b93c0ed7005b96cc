"""Output gates: train a next-id model on the choices its sampler will leave it.

A task's sampler may never draw some ids in some steps (the jazz task: a value whose duration
would put the next onset off the grid, or whose interval does not land on its own TYPE), and
the step's condition features already say which. A model trained on all ids spends probability
on those, and the sampler renormalises over the rest, so what is drawn is not what was trained:
the renormalisation scales up whatever the model was surest of (the v3 jazz default put 11% of
its probability on values the line could not play, 6% on values off the meter).

A gate block reads `width` condition features from column `start` (of the features, after the
id) and says which ids are allowed there:

    allowed # (..., V) = features[..., start:start + width] @ matrix # (width, V) + offset # (V,) > 0.5
    logits += penalty * (1 - allowed)      (penalty: one trainable scalar per block, < 0)

so a one-hot block gates by a table (the jazz meter: position in the beat x value -> allowed),
a multi-hot block by one column per id (the jazz interval TYPEs), and `offset` 1 leaves an id
ungated. The penalty is learned, not -inf: the few training targets a gate disallows (a corpus
value the decoded line cannot play as written) keep a probability, so the model stays a proper
distribution over every id and its held-out loss is the loss of the model as sampled.

The blocks travel in the export as arrays (`gate{i}/start`, `/matrix`, `/offset`, `/penalty`);
the numpy engine applies them with `apply_gates`, the Keras graphs with `OutputGate`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

INITIAL_PENALTY = -4.0  # a disallowed id starts e^4 ~ 55x less likely than the network says


class GateBlock(NamedTuple):
    """One gate: features[start:start + width] @ matrix + offset > 0.5 allows an id."""

    start: int               # first feature column read (0 = the first feature after the id)
    matrix: np.ndarray       # (width, V) float32
    offset: np.ndarray       # (V,) float32; 1 = always allowed by this block
    penalty: float = INITIAL_PENALTY

    def allowed(self, features: np.ndarray) -> np.ndarray:
        """Which ids this block allows # (..., F) -> (..., V) bool."""
        width = self.matrix.shape[0]
        return features[..., self.start: self.start + width] @ self.matrix + self.offset > 0.5


def apply_gates(logits: np.ndarray, rows: np.ndarray, gates: list[GateBlock]) -> np.ndarray:
    """Gated logits (numpy): `logits` (..., V) for input rows [id, features] (..., 1 + F)."""
    if not gates:
        return logits
    features = np.asarray(rows)[..., 1:]
    out = np.array(logits, copy=True)
    for gate in gates:
        out += np.float32(gate.penalty) * (~gate.allowed(features))
    return out


def gates_to_weights(gates: list[GateBlock]) -> dict[str, np.ndarray]:
    """Export arrays of `gates` (all float32: exports hold finite floats only)."""
    out = {}
    for i, g in enumerate(gates):
        out[f"gate{i}/start"] = np.array([g.start], np.float32)
        out[f"gate{i}/matrix"] = np.asarray(g.matrix, np.float32)
        out[f"gate{i}/offset"] = np.asarray(g.offset, np.float32)
        out[f"gate{i}/penalty"] = np.array([g.penalty], np.float32)
    return out


def gates_from_weights(weights: dict[str, np.ndarray]) -> list[GateBlock]:
    """The gate blocks an export holds (none for an ungated model), in order."""
    gates = []
    while f"gate{len(gates)}/matrix" in weights:
        i = len(gates)
        gates.append(GateBlock(int(weights[f"gate{i}/start"][0]), weights[f"gate{i}/matrix"],
                               weights[f"gate{i}/offset"], float(weights[f"gate{i}/penalty"][0])))
    return gates


def grow_gates(weights: dict[str, np.ndarray], to_new: np.ndarray, n_new: int) -> dict[str, np.ndarray]:
    """Gate arrays resized to a grown vocabulary: old ids keep their columns, new ids are ungated."""
    grown = {}
    for i, g in enumerate(gates_from_weights(weights)):
        matrix = np.zeros((g.matrix.shape[0], n_new), np.float32)
        matrix[:, to_new] = g.matrix
        offset = np.ones(n_new, np.float32)
        offset[to_new] = g.offset
        grown[f"gate{i}/matrix"], grown[f"gate{i}/offset"] = matrix, offset
    return grown


def output_gate_layer(gate: GateBlock, name: str):
    """A Keras layer: (logits (..., V), rows (..., 1 + F)) -> gated logits; `penalty` trainable."""
    import keras

    class OutputGate(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.start, self.width = gate.start, gate.matrix.shape[0]
            self.matrix = np.asarray(gate.matrix, np.float32)
            self.offset = np.asarray(gate.offset, np.float32)

        def build(self, input_shape):
            self.penalty = self.add_weight(shape=(), name="penalty",
                                           initializer=keras.initializers.Constant(gate.penalty))

        def call(self, logits, rows):
            ops = keras.ops
            features = rows[..., 1 + self.start: 1 + self.start + self.width]
            allowed = ops.matmul(features, ops.convert_to_tensor(self.matrix)) + self.offset
            shut = ops.cast(allowed <= 0.5, logits.dtype)
            return logits + self.penalty * shut

    return OutputGate(name=name)
