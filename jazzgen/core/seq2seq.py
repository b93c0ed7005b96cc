"""Encoder-decoder (Tx != Ty) in the Keras Functional API: teacher forcing, greedy decoding.

The layers are built once and called by three graphs, as in `models.build_models`:

    train    packed ids (B, Tx + Ty) -> logits (B, Ty, V)     teacher forcing
    encoder  source ids (B, Tx) -> [outputs (B, Tx, U), *states (B, U)]
    decoder  [id (B, 1), outputs (B, Tx, U), *states] -> [logits (B, V), *new states]

The training input packs the source (first Tx ids) and the decoder input ([BOS, y1 .. y_{Ty-1}],
last Ty ids) into one (B, Tx + Ty) array, so the generic training loop streams it like any
window; the graph splits it again. The encoder's final states start the decoder; with
`attention` the decoder also reads a dot-product (Luong) attention over the encoder outputs.
Greedy decoding feeds the decoder its own most likely id, one step at a time. Nothing here
knows about text: ids in, ids out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jazzgen.core.files import atomic_open
from jazzgen.core.models import ModelConfig
from jazzgen.core.scoring import log_softmax

EXPORT_FORMAT = 1


@dataclass
class Seq2SeqModels:
    """The three graphs over one set of layers, and the lengths they were built for."""

    train: Any     # keras.Model: packed ids (B, Tx + Ty) -> logits (B, Ty, V)
    encoder: Any   # keras.Model: ids (B, Tx) -> [outputs (B, Tx, U), *states]
    decoder: Any   # keras.Model: [id (B, 1), outputs, *states] -> [logits (B, V), *states]
    src_len: int   # Tx
    tgt_len: int   # Ty


def build_seq2seq(cfg: ModelConfig, vocab_size: int, src_len: int, tgt_len: int,
                  attention: bool = True) -> Seq2SeqModels:
    """Build the shared layers and the train, encoder and decoder-step models.

    Args:
        cfg: cell, units, embedding_dim (0 = one-hot), bidirectional (the encoder; the decoder
            then has 2 x units); `layers` must be 1.
        vocab_size: ids of the source and target (one shared table; id 0 is padding).
        src_len, tgt_len: Tx and Ty, fixed (sources are padded to Tx).
        attention: the decoder attends over the encoder outputs at every step.
    """
    import keras

    if cfg.layers != 1:
        raise ValueError("the encoder-decoder has one recurrent layer each side (model.layers = 1)")
    recurrent = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU,
                 "rnn": keras.layers.SimpleRNN}[cfg.cell]
    dec_units = cfg.units * (2 if cfg.bidirectional else 1)

    def embedding(name: str):
        if cfg.embedding_dim:
            return keras.layers.Embedding(vocab_size, cfg.embedding_dim, name=name)
        return keras.layers.Embedding(vocab_size, vocab_size, embeddings_initializer="identity",
                                      trainable=False, name=name)

    enc_embed, dec_embed = embedding("enc_embedding"), embedding("dec_embedding")
    enc_rnn = recurrent(cfg.units, return_sequences=True, return_state=True, name="encoder_rnn")
    if cfg.bidirectional:
        enc_rnn = keras.layers.Bidirectional(enc_rnn, name="bi_encoder_rnn")
    dec_rnn = recurrent(dec_units, return_sequences=True, return_state=True, name="decoder_rnn")
    attend = keras.layers.Attention(name="attention") if attention else None
    join = keras.layers.Concatenate(name="join_context")
    combine = keras.layers.Dense(dec_units, activation="tanh", name="combine")
    head = keras.layers.Dense(vocab_size, name="head")
    n_states = 2 if cfg.cell == "lstm" else 1

    def encode(src):
        outputs, *states = enc_rnn(enc_embed(src))              # (B, Tx, U), states (B, n_a)
        if cfg.bidirectional:  # [fwd h, (fwd c,) bwd h, (bwd c)] -> [h, (c)] of size 2 n_a
            states = [keras.layers.Concatenate(name=f"join_state_{i}")(
                [states[i], states[i + n_states]]) for i in range(n_states)]
        return outputs, states

    def decode(dec_in, enc_outputs, states):
        seq, *new_states = dec_rnn(dec_embed(dec_in), initial_state=states)  # (B, T, U)
        if attend is not None:
            context = attend([seq, enc_outputs])                # (B, T, U) weighted enc. outputs
            seq = combine(join([seq, context]))                 # h~ = tanh(Wc [h; context])
        return head(seq), new_states                             # (B, T, V)

    packed = keras.Input(shape=(src_len + tgt_len,), dtype="int32", name="packed")
    enc_outputs, states = encode(packed[:, :src_len])
    logits, _ = decode(packed[:, src_len:], enc_outputs, states)
    train = keras.Model(packed, logits, name="seq2seq_train")

    src = keras.Input(shape=(src_len,), dtype="int32", name="source")
    enc_outputs_s, states_s = encode(src)
    encoder = keras.Model(src, [enc_outputs_s, *states_s], name="seq2seq_encoder")

    id_t = keras.Input(shape=(1,), dtype="int32", name="id")
    outputs_in = keras.Input(shape=(src_len, dec_units), name="encoder_outputs")
    states_in = [keras.Input(shape=(dec_units,), name=f"state_{i}") for i in range(n_states)]
    logits_t, new_states = decode(id_t, outputs_in, states_in)
    logits_t = keras.layers.Reshape((vocab_size,), name="squeeze_time")(logits_t)  # (B, V)
    decoder = keras.Model([id_t, outputs_in, *states_in], [logits_t, *new_states],
                          name="seq2seq_decoder")
    return Seq2SeqModels(train, encoder, decoder, src_len, tgt_len)


def pack_pairs(sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], src_len: int,
               tgt_len: int, bos_id: int, eos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forcing arrays for the train model.

    Each source is cut/padded to Tx with id 0; each target becomes [y..., EOS] cut/padded to Ty
    (padding 0 is masked by the loss), and the decoder input is that shifted right behind BOS.

    Returns:
        X (N, Tx + Ty) packed [source | decoder input], Y (N, Ty) targets; int32.
    """
    n = len(sources)
    X = np.zeros((n, src_len + tgt_len), np.int32)
    Y = np.zeros((n, tgt_len), np.int32)
    for i, (src, tgt) in enumerate(zip(sources, targets, strict=True)):
        src = list(src)[:src_len]
        y = (list(tgt) + [eos_id])[:tgt_len]
        X[i, : len(src)] = src
        X[i, src_len] = bos_id
        X[i, src_len + 1: src_len + len(y)] = y[:-1]             # decoder input: BOS, y1 ...
        Y[i, : len(y)] = y
    return X, Y


def greedy_decode(models: Seq2SeqModels, sources: np.ndarray, bos_id: int, eos_id: int,
                  max_len: int | None = None) -> tuple[list[list[int]], np.ndarray]:
    """Decode a batch by always taking the most likely id, until EOS or `max_len` ids.

    Args:
        sources: (B, Tx) ids, padded with 0 as in training.
    Returns:
        the ids of each output (without EOS), and the log-probability of each whole output
        (its ids and the EOS that ended it) under the model # (B,)
    """
    max_len = max_len or models.tgt_len
    enc_outputs, *states = models.encoder.predict_on_batch(np.asarray(sources, np.int32))
    B = len(sources)
    ids = np.full((B, 1), bos_id, np.int32)
    out = np.zeros((B, max_len), np.int64)
    logp = np.zeros(B)
    done = np.zeros(B, bool)
    length = np.full(B, max_len)
    for t in range(max_len):
        logits, *states = models.decoder.predict_on_batch([ids, enc_outputs, *states])
        log_p = log_softmax(logits)                             # (B, V)
        best = log_p.argmax(axis=1)                             # (B,)
        logp += np.where(done, 0.0, log_p[np.arange(B), best])
        out[:, t] = best
        ended = (best == eos_id) & ~done
        length[ended] = t
        done |= ended
        if done.all():
            break
        ids = best.astype(np.int32)[:, None]
    return [out[b, : length[b]].tolist() for b in range(B)], logp


def save_seq2seq(path_npz: str | os.PathLike, models: Seq2SeqModels, cfg: ModelConfig,
                 vocab_size: int, attention: bool) -> None:
    """Write everything `load_seq2seq` needs to rebuild the models into one `.npz`, atomically."""
    meta = {"config": cfg.to_dict(), "vocab_size": vocab_size, "src_len": models.src_len,
            "tgt_len": models.tgt_len, "attention": attention, "format": EXPORT_FORMAT}
    weights = {f"w{i}": w for i, w in enumerate(models.train.get_weights())}
    with atomic_open(path_npz, "wb") as f:
        np.savez(f, seq2seq=np.array(json.dumps(meta, sort_keys=True)), **weights)


def load_seq2seq(path_npz: str | os.PathLike) -> Seq2SeqModels:
    """Rebuild the models saved by `save_seq2seq` and load their weights."""
    with np.load(path_npz) as data:
        if "seq2seq" not in data.files:
            raise ValueError(f"{path_npz}: not an encoder-decoder export")
        meta = json.loads(data["seq2seq"].item())
        if meta["format"] != EXPORT_FORMAT:
            raise ValueError(f"{path_npz}: export format {meta['format']}, this jazzgen reads "
                             f"{EXPORT_FORMAT}")
        weights = [data[f"w{i}"] for i in range(sum(k.startswith("w") for k in data.files))]
    models = build_seq2seq(ModelConfig.from_dict(meta["config"]), meta["vocab_size"],
                           meta["src_len"], meta["tgt_len"], meta["attention"])
    models.train.set_weights(weights)
    return models
