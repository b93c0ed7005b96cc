"""Keras 3 model builders: one set of layers, called by a training graph and a sampling graph.

The layers (embedding, recurrent stack, dense head) are built once. The training model calls
them on whole windows (teacher forcing); the step model calls the very same layer objects on
one id plus the recurrent states and returns the next logits and the new states, so the two
share weights by construction (the Functional API guide: "to share a layer, call the same layer
instance multiple times"). No Python loop is unrolled over time.

Keras is imported inside the functions that need it: `ModelConfig` and the `.npz` export are
read by the TensorFlow-free sampling engine.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from jazzgen.core.files import atomic_open, read_npz
from jazzgen.core.gates import gates_from_weights, gates_to_weights
from jazzgen.errors import InputError

CELL_TYPES = ("lstm", "gru", "rnn")
HEADS = ("next", "classify", "tag")
EXPORT_FORMAT = 1  # bump when the names or meaning of the arrays in export.npz change


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network; stored in each run directory and export, so sampling needs no more."""

    cell: str = "lstm"          # "lstm" | "gru" (Keras default reset_after=True) | "rnn" (tanh)
    units: int = 256            # hidden size n_a of every recurrent layer
    layers: int = 1             # stacked recurrent layers, >= 1
    bidirectional: bool = False  # read each window both ways; heads "classify"/"tag" only
    dropout: float = 0.0        # dropout rate after each recurrent layer, in [0, 1); 0 = none
    embedding_dim: int = 64     # size of the learned id vectors; 0 = one-hot input (the course)
    head: str = "next"          # "next": value t+1 at every step | "classify": one label per
    #                             window (many-to-one) | "tag": one label per step
    condition_dim: int = 0      # real-valued inputs per step beside the id, set by the task
    #                             (jazz: where the next value starts and the harmony there);
    #                             0 = ids only. With it each step's input is one float32 row
    #                             [id, features...] # (1 + condition_dim,)

    def __post_init__(self) -> None:
        if self.cell not in CELL_TYPES:
            raise ValueError(f"cell must be one of {CELL_TYPES}, got {self.cell!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.units < 1 or self.layers < 1 or self.embedding_dim < 0 or self.condition_dim < 0:
            raise ValueError("units and layers must be >= 1, embedding_dim and condition_dim >= 0")
        if self.condition_dim and self.head != "next":
            raise ValueError("condition_dim is for head 'next' models")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.bidirectional and self.head == "next":
            raise ValueError("a bidirectional model sees the value it should predict: "
                             "use bidirectional with head 'classify' or 'tag'")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Config from a dict (e.g. parsed JSON or TOML); unknown keys are an error."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown model settings: {sorted(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def state_names(self) -> list[str]:
        """Names of the step model's state inputs, in order: h0, c0, h1, c1 ... (c for LSTM)."""
        per_layer = ("h", "c") if self.cell == "lstm" else ("h",)
        return [f"{s}{i}" for i in range(self.layers) for s in per_layer]


@dataclass
class Models:
    """The two graphs over one set of layers."""

    train: Any          # keras.Model: ids (B, T) -> logits (B, T, V) for next/tag, (B, C) classify
    step: Any | None    # keras.Model: [ids (B, 1), *states] -> [logits (B, V), *new states];
    #                     None unless head "next" (never bidirectional)


def _rnn_layer_name(cfg: ModelConfig, i: int) -> str:
    return f"{'bi' if cfg.bidirectional else ''}{cfg.cell}_{i}"


def build_models(cfg: ModelConfig, vocab_size: int, num_outputs: int | None = None,
                 gates: list | None = None) -> Models:
    """Build the shared layers and the training (and, for head "next", step) models.

    Args:
        cfg: the network's shape.
        vocab_size: number of input ids; id 0 is padding (masked for "classify" and "tag").
        num_outputs: classes for "classify"/"tag"; for "next" it is the vocabulary (default).
        gates: `core.gates.GateBlock`s over the condition features (a conditioned "next" model
            only): both graphs add each block's learned penalty to the ids it disallows.
    Returns:
        `Models(train, step)`; both output logits (train with `from_logits=True`).
    """
    import keras

    num_outputs = num_outputs or vocab_size
    if cfg.head == "next" and num_outputs != vocab_size:
        raise ValueError("head 'next' predicts ids of the input vocabulary")
    mask_zero = cfg.head != "next"  # pad id 0 is skipped by the recurrent layers and the loss
    if cfg.embedding_dim:
        embed = keras.layers.Embedding(vocab_size, cfg.embedding_dim, mask_zero=mask_zero,
                                       name="embedding")
    else:  # one-hot input: a lookup in a frozen identity matrix
        embed = keras.layers.Embedding(vocab_size, vocab_size, mask_zero=mask_zero,
                                       embeddings_initializer="identity", trainable=False,
                                       name="one_hot")
    from jazzgen.core.fused_lstm import FusedLSTM  # Keras' LSTM, time loop fused on the CPU

    recurrent = {"lstm": FusedLSTM, "gru": keras.layers.GRU,
                 "rnn": keras.layers.SimpleRNN}[cfg.cell]
    stateful_head = cfg.head == "next"  # the step model passes states from call to call
    rnns, drops = [], []
    for i in range(cfg.layers):
        last = i == cfg.layers - 1
        layer = recurrent(cfg.units, return_sequences=not (cfg.head == "classify" and last),
                          return_state=stateful_head, name=f"{cfg.cell}_{i}")
        if cfg.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=_rnn_layer_name(cfg, i))
        rnns.append(layer)
        drops.append(keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}") if cfg.dropout
                     else None)
    head = keras.layers.Dense(num_outputs, name="head")
    if gates and not cfg.condition_dim:
        raise ValueError("output gates read condition features: a conditioned model only")
    from jazzgen.core.gates import output_gate_layer

    gate_layers = [output_gate_layer(g, f"gate{i}") for i, g in enumerate(gates or ())]

    def gated(logits, rows):
        for layer in gate_layers:
            logits = layer(logits, rows)
        return logits

    def run_stack(x, states=None):
        """Call the shared layers; with `states`, feed them in and collect the new ones."""
        new_states = []
        for i, (rnn, drop) in enumerate(zip(rnns, drops, strict=True)):
            if states is None:
                x = rnn(x)
            else:
                k = len(states) // cfg.layers
                x = rnn(x, initial_state=states[i * k: (i + 1) * k])
            if stateful_head:
                x, *s = x                                  # (B, T, n_a), h (and c) (B, n_a)
                new_states += s
            if drop is not None:
                x = drop(x)
        return head(x), new_states

    def inputs(x):
        """Embedded ids, with the condition features beside them when the model has them."""
        if not cfg.condition_dim:
            return embed(x)
        ids = keras.ops.cast(x[..., 0], "int32")                             # (B, T)
        return keras.ops.concatenate([embed(ids), x[..., 1:]], axis=-1)      # (B, T, E + F)

    if cfg.condition_dim:  # one float32 row per step: [id, features...]
        ids = keras.Input(shape=(None, 1 + cfg.condition_dim), name="rows")    # (B, T, 1 + F)
    else:
        ids = keras.Input(shape=(None,), dtype="int32", name="ids")           # (B, T)
    logits, _ = run_stack(inputs(ids))                     # (B, T, C) or (B, C) for classify
    logits = gated(logits, ids)
    train = keras.Model(ids, logits, name="train")
    if not stateful_head:
        return Models(train, None)

    if cfg.condition_dim:
        id_t = keras.Input(shape=(1, 1 + cfg.condition_dim), name="row")       # (B, 1, 1 + F)
    else:
        id_t = keras.Input(shape=(1,), dtype="int32", name="id")              # (B, 1)
    states = [keras.Input(shape=(cfg.units,), name=n) for n in cfg.state_names()]
    logits_t, new_states = run_stack(inputs(id_t), states)                   # (B, 1, V)
    logits_t = gated(logits_t, id_t)
    logits_t = keras.layers.Reshape((num_outputs,), name="squeeze_time")(logits_t)  # (B, V)
    step = keras.Model([id_t, *states], [logits_t, *new_states], name="step")
    return Models(train, step)


def export_weights(models: Models, cfg: ModelConfig) -> dict[str, np.ndarray]:
    """Every weight the numpy engine needs, in Keras layout, under stable names.

    Names: `embedding` (V, E) (absent for one-hot input), `layer{i}/kernel` (n_in, k n_a),
    `layer{i}/recurrent_kernel` (n_a, k n_a), `layer{i}/bias` ((k n_a,) or (2, 3 n_a) for a
    reset_after GRU); bidirectional layers use `layer{i}/forward/...` and `layer{i}/backward/...`;
    `head/kernel` (n_a or 2 n_a, C), `head/bias` (C,); a gated model's blocks as
    `core.gates.gates_to_weights` names them.
    """
    model = models.train
    weights = {}
    if cfg.embedding_dim:
        weights["embedding"] = model.get_layer("embedding").get_weights()[0]
    for i in range(cfg.layers):
        layer = model.get_layer(_rnn_layer_name(cfg, i))
        parts = ([("forward/", layer.forward_layer), ("backward/", layer.backward_layer)]
                 if cfg.bidirectional else [("", layer)])
        for prefix, sub in parts:
            kernel, recurrent_kernel, bias = sub.get_weights()
            weights[f"layer{i}/{prefix}kernel"] = kernel
            weights[f"layer{i}/{prefix}recurrent_kernel"] = recurrent_kernel
            weights[f"layer{i}/{prefix}bias"] = bias
    weights["head/kernel"], weights["head/bias"] = model.get_layer("head").get_weights()
    weights.update(gates_to_weights(_gates_of(model)))
    return weights


def _gates_of(model) -> list:
    """The `GateBlock`s of a built model, with their trained penalties."""
    from jazzgen.core.gates import GateBlock

    layers = [layer for layer in model.layers if layer.name.startswith("gate")]
    return [GateBlock(layer.start, layer.matrix, layer.offset, float(np.asarray(layer.penalty.numpy())))
            for layer in sorted(layers, key=lambda layer: int(layer.name[4:]))]


def import_weights(models: Models, cfg: ModelConfig, weights: dict[str, np.ndarray]) -> None:
    """Load weights named as by `export_weights` into freshly built models (the inverse)."""
    model = models.train
    if cfg.embedding_dim:
        model.get_layer("embedding").set_weights([weights["embedding"]])
    for i in range(cfg.layers):
        layer = model.get_layer(_rnn_layer_name(cfg, i))
        parts = ([("forward/", layer.forward_layer), ("backward/", layer.backward_layer)]
                 if cfg.bidirectional else [("", layer)])
        for prefix, sub in parts:
            sub.set_weights([weights[f"layer{i}/{prefix}{name}"]
                             for name in ("kernel", "recurrent_kernel", "bias")])
    model.get_layer("head").set_weights([weights["head/kernel"], weights["head/bias"]])
    for i, gate in enumerate(gates_from_weights(weights)):
        model.get_layer(f"gate{i}").penalty.assign(gate.penalty)


class Export(NamedTuple):
    """The contents of an export file."""

    cfg: ModelConfig
    vocab_size: int
    weights: dict[str, np.ndarray]


def scale_head(weights: dict[str, np.ndarray], temperature: float) -> dict[str, np.ndarray]:
    """Weights whose logits are the given ones divided by `temperature` (the head and any
    gate penalties scaled)."""
    penalties = {k: v / temperature for k, v in weights.items() if k.startswith("gate") and k.endswith("/penalty")}
    return {**weights, "head/kernel": weights["head/kernel"] / temperature,
            "head/bias": weights["head/bias"] / temperature, **penalties}


def save_export(path_npz: str | os.PathLike, cfg: ModelConfig, vocab_size: int,
                weights: dict[str, np.ndarray]) -> None:
    """Write config, vocabulary size and weights to one `.npz`, atomically."""
    meta = {"config": np.array(json.dumps(cfg.to_dict(), sort_keys=True)),
            "vocab_size": np.array(vocab_size), "format": np.array(EXPORT_FORMAT)}
    clash = set(meta) & set(weights)
    if clash:
        raise ValueError(f"weight names clash with metadata: {sorted(clash)}")
    with atomic_open(path_npz, "wb") as f:
        np.savez(f, **meta, **weights)


def load_export(path_npz: str | os.PathLike) -> Export:
    """Read an export written by `save_export` -> `Export(cfg, vocab_size, weights)`.

    Raises:
        InputError: the file is missing, damaged, lacks its metadata, or has another format.
    """
    data = read_npz(path_npz)
    missing = {"format", "config", "vocab_size"} - data.keys()
    if missing:
        raise InputError(path_npz, "damaged weights file", f"no {', '.join(sorted(missing))}")
    try:
        version = int(data["format"])
        cfg = ModelConfig.from_dict(json.loads(data["config"].item()))
        vocab_size = int(data["vocab_size"])
    except (ValueError, TypeError, AttributeError) as e:  # json errors are ValueErrors
        raise InputError(path_npz, "damaged weights file", f"{type(e).__name__}: {e}"[:160]) from e
    if version != EXPORT_FORMAT:
        raise InputError(path_npz, "unknown export format", f"{version}; this jazzgen reads {EXPORT_FORMAT}")
    weights = {k: v for k, v in data.items() if k not in ("config", "vocab_size", "format")}
    bad = [k for k, v in weights.items() if v.dtype.kind != "f" or not np.isfinite(v).all()]
    if bad:  # NaN weights would sample nothing at all, silently
        raise InputError(path_npz, "damaged weights file", f"{bad[0]}: not finite numbers")
    return Export(cfg, vocab_size, weights)
