"""The character-aware tagger network, built with the Keras Functional API.

    words_chars (B, T, 1 + L [+ 1]) int32: per word its vocabulary id, then L character ids
      (then, with `shapes`, its spelling class: capitalised, all capitals, digits, @, #, url ...)
      -> word embedding (B, T, E)  ++  character features (B, T, F)     (Lample et al. 2016;
         [++ shape embedding (B, T, S)]                                  Ma & Hovy 2016)
      -> dropout -> stacked (bi)directional LSTM -> dropout -> dense
      -> tag logits (B, T, C)  [-> `crf.TagTransitions`, whose learned transitions the
                                   sentence-level loss and Viterbi read]

Character features: a CNN (width-3 filters, max over the word's characters) or a character
BiLSTM (the last state each way). Every word has characters, so a word the vocabulary never saw
still gets its own vector from its spelling.

Speed on the CPU: no Keras masks. A mask makes Keras run its LSTM step by step in Python-built
loops; instead every LSTM here is `FusedLSTM` (one fused op over all steps), and the backward
direction reads each sequence reversed over its own length (`tf.reverse_sequence`), so the
padding after a sentence (or a word) never reaches a real position. The result is exactly what
a masked bidirectional LSTM computes, whatever the padding. Training reads whole batches of
sentences of similar length (`batch_trainer`) and cuts each to its longest sentence, so hardly
any step is spent on padding.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from jazzgen.core.fused_lstm import FusedLSTM
from jazzgen.core.models import ModelConfig, Models


class SplitWordsChars(keras.layers.Layer):
    """(B, T, 1 + L [+ 1]) -> word ids (B, T), character ids (B, T, L), sentence lengths (B,)
    and the spelling-class ids (B, T) (zeros when `shapes` is off: the input has no such column)."""

    def __init__(self, max_chars: int, shapes: bool = False, **kw):
        super().__init__(**kw)
        self.max_chars, self.shapes = max_chars, shapes

    def call(self, x):
        ids = x[..., 0]
        lengths = tf.reduce_sum(tf.cast(tf.not_equal(ids, 0), tf.int32), axis=1)
        shapes = x[..., 1 + self.max_chars] if self.shapes else tf.zeros_like(ids)
        return ids, x[..., 1: 1 + self.max_chars], lengths, shapes

    def compute_output_shape(self, shape):
        return shape[:2], (*shape[:2], self.max_chars), shape[:1], shape[:2]


class PaddedLSTM(keras.layers.Layer):
    """An LSTM over padded sequences, both ways if `bidirectional`: ([x (B, T, E), lengths (B,)])
    -> every step's output (B, T, n_a or 2 n_a), or the last real step's (B, n_a or 2 n_a)."""

    def __init__(self, units: int, bidirectional: bool = True, last_only: bool = False, **kw):
        super().__init__(**kw)
        self.units, self.bidirectional, self.last_only = units, bidirectional, last_only
        self.fw = FusedLSTM(units, return_sequences=True, name="forward")
        self.bw = FusedLSTM(units, return_sequences=True, name="backward") if bidirectional else None

    def build(self, shapes):
        x_shape = shapes[0]
        self.fw.build(x_shape)
        if self.bw is not None:
            self.bw.build(x_shape)

    def call(self, inputs):
        x, lengths = inputs
        outs = [self.fw(x)]
        if self.bw is not None:
            lengths64 = tf.cast(lengths, tf.int64)
            back = self.bw(tf.reverse_sequence(x, lengths64, seq_axis=1, batch_axis=0))
            # last_only: the backward pass's last real step has read the whole sequence too
            outs.append(back if self.last_only else
                        tf.reverse_sequence(back, lengths64, seq_axis=1, batch_axis=0))
        out = tf.concat(outs, axis=-1) if len(outs) > 1 else outs[0]          # (B, T, k n_a)
        if self.last_only:
            last = tf.maximum(lengths - 1, 0)
            out = tf.gather(out, last, axis=1, batch_dims=1)                  # (B, k n_a)
            out = out * tf.cast(lengths > 0, out.dtype)[:, None]              # empty: zeros
        return out

    def compute_output_shape(self, shapes):
        x_shape = shapes[0]
        width = self.units * (2 if self.bidirectional else 1)
        return (x_shape[0], width) if self.last_only else (*x_shape[:2], width)


class CharFeatures(keras.layers.Layer):
    """Character ids (B, T, L) -> one vector per word (B, T, F); padding words give zeros.

    kind "cnn": width-3 convolution, tanh, max over the word's real characters (F = units);
    kind "lstm": a character BiLSTM's last state each way (F = 2 units).
    """

    def __init__(self, num_chars: int, dim: int, units: int, kind: str, **kw):
        super().__init__(**kw)
        self.kind, self.units = kind, units
        self.embed = keras.layers.Embedding(num_chars, dim, name="char_embedding")
        if kind == "cnn":
            self.encoder = keras.layers.Conv1D(units, 3, padding="same", activation="tanh",
                                               name="char_cnn")
        else:
            self.encoder = PaddedLSTM(units, bidirectional=True, last_only=True, name="char_lstm")

    def build(self, shape):
        self.embed.build((None, shape[-1]))
        flat = (None, shape[-1], self.embed.output_dim)
        self.encoder.build(flat if self.kind == "cnn" else [flat, (None,)])

    def call(self, chars):
        B, T, L = tf.shape(chars)[0], tf.shape(chars)[1], tf.shape(chars)[2]
        flat = tf.reshape(chars, (-1, L))                                      # (B T, L)
        lengths = tf.reduce_sum(tf.cast(tf.not_equal(flat, 0), tf.int32), axis=1)
        e = self.embed(flat)                                                   # (B T, L, D)
        if self.kind == "cnn":
            h = self.encoder(e)                                                # (B T, L, F)
            real = tf.not_equal(flat, 0)[..., None]
            h = tf.reduce_max(tf.where(real, h, -2.0), axis=1)                 # tanh > -2
            h = tf.where(lengths[:, None] > 0, h, 0.0)
        else:
            h = self.encoder([e, lengths])                                     # (B T, 2 F)
        return tf.reshape(h, (B, T, self.feature_size()))

    def feature_size(self) -> int:
        return self.units * (1 if self.kind == "cnn" else 2)

    def compute_output_shape(self, shape):
        return (*shape[:2], self.feature_size())


def build_char_tagger(cfg: ModelConfig, vocab_size: int, num_chars: int, max_chars: int,
                      num_outputs: int, kind: str, char_dim: int, char_units: int,
                      num_shapes: int = 0, shape_dim: int = 8, crf: bool = False,
                      name: str = "char_tagger") -> Models:
    """The tagger as `Models(train, None)`; `train` maps (B, T, 1 + max_chars [+ 1]) ids to
    logits (B, T, num_outputs). kind "none" leaves the characters out (a word-only tagger);
    `num_shapes` > 0 reads the last column as spelling-class ids (1..num_shapes, 0 padding);
    `crf` ends the network in a `TagTransitions` layer."""
    width = 1 + max_chars + (1 if num_shapes else 0)
    inputs = keras.Input(shape=(None, width), dtype="int32", name="words_chars")
    ids, chars, lengths, shape_ids = SplitWordsChars(max_chars, num_shapes > 0, name="split")(inputs)
    x = keras.layers.Embedding(vocab_size, cfg.embedding_dim, name="embedding")(ids)  # (B, T, E)
    parts = [x]
    if kind != "none":
        parts.append(CharFeatures(num_chars, char_dim, char_units, kind, name="chars")(chars))
    if num_shapes:
        parts.append(keras.layers.Embedding(num_shapes + 1, shape_dim, name="shape_embedding")(
            shape_ids))                                                       # (B, T, S)
    if len(parts) > 1:
        x = keras.layers.Concatenate(name="word_and_chars")(parts)
    if cfg.dropout:
        x = keras.layers.Dropout(cfg.dropout, name="dropout_input")(x)
    for i in range(cfg.layers):
        x = PaddedLSTM(cfg.units, cfg.bidirectional, name=f"lstm_{i}")([x, lengths])
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(num_outputs, name="head")(x)                  # (B, T, C)
    if crf:
        from jazzgen.text.crf import TagTransitions

        logits = TagTransitions(name="transitions")(logits)
    return Models(keras.Model(inputs, logits, name=name), None)


class MeanLogProbs(keras.layers.Layer):
    """Members' logits [(B, T, C)] * N -> the log of their mean probabilities (B, T, C).

    The mean of probabilities, not of log-probabilities: on WNUT-17 the latter (a product of
    experts) marks an entity only where every member agrees, which cost more recall than it
    gained precision (docs/text.md). With CRF members Viterbi reads these with the members'
    mean transitions."""

    def call(self, members):
        log_p = tf.stack([tf.nn.log_softmax(z, axis=-1) for z in members], axis=0)
        return tf.reduce_logsumexp(log_p, axis=0) - tf.math.log(float(len(members)))

    def compute_output_shape(self, shapes):
        return shapes[0]


class StackMembers(keras.layers.Layer):
    """Members' logits [(B, T, C)] * N -> (B, T, N, C)."""

    def call(self, members):
        return tf.stack(members, axis=-2)

    def compute_output_shape(self, shapes):
        return (*shapes[0][:-1], len(shapes), shapes[0][-1])


def build_char_ensemble(members: list, width: int):
    """N taggers (keras.Models of `build_char_tagger`, each with its own weights) as
    (tagger: (B, T, K) -> log of the mean probabilities (B, T, C), per_member: (B, T, K) -> (B, T, N,
    C) logits). Both run the same layers; training reads `per_member`, so each member learns
    from its own loss exactly as if trained alone (other initial weights, other dropout)."""
    inputs = keras.Input(shape=(None, width), dtype="int32", name="words_chars")
    outs = [m(inputs) for m in members]
    tagger = keras.Model(inputs, MeanLogProbs(name="mean")(outs), name="char_tagger_ensemble")
    stacked = StackMembers(name="members")(outs)
    return tagger, keras.Model(inputs, stacked, name="char_tagger_members")


class _BatchOfSentences(keras.layers.Layer):
    """Runs the tagger on pre-made batches: (R, B, T, K) -> (R, B, T, C), each batch cut to its
    longest sentence first and its logits padded back (padding targets are masked anyway).

    `logit_shift` (C,), if given, is added to the logits in training only: with tau log(prior)
    this is the logit-adjusted loss (Menon et al. 2021), so the tagger alone, without the shift,
    favours rare tags as a balanced loss would.
    """

    def __init__(self, tagger, out_dims: tuple, logit_shift=None, **kw):
        super().__init__(**kw)
        self.tagger, self.out_dims = tagger, tuple(out_dims)  # (C,) or, per member, (N, C)
        self.logit_shift = None if logit_shift is None else tf.constant(logit_shift, tf.float32)

    def call(self, x, training=None):
        shape = tf.shape(x)                                                    # R, B, T, K
        flat = tf.reshape(x, (-1, shape[2], shape[3]))                        # (R B, T, K)
        used = tf.reduce_sum(tf.cast(tf.not_equal(flat[..., 0], 0), tf.int32), axis=1)
        longest = tf.maximum(tf.reduce_max(used), 1)
        logits = self.tagger(flat[:, :longest], training=training)          # (R B, T', [N,] C)
        if training and self.logit_shift is not None:
            logits = logits + self.logit_shift
        pad = [[0, 0], [0, shape[2] - longest]] + [[0, 0]] * len(self.out_dims)
        logits = tf.pad(logits, pad)
        return tf.reshape(logits, tf.concat([shape[:3], list(self.out_dims)], axis=0))

    def compute_output_shape(self, shape):
        return (*shape[:3], *self.out_dims)


def batch_trainer(tagger, width: int, out_dims: tuple, logit_shift=None) -> Models:
    """`Models(train, None)` whose `train` reads rows that are whole batches # (R, B, T, width)
    -> (R, B, T, *out_dims), through the very same layers as `tagger` (a keras.Model whose
    output is (B, T, *out_dims)); `logit_shift` (C,) is added to its logits in training (see
    `_BatchOfSentences`)."""
    inputs = keras.Input(shape=(None, None, width), dtype="int32", name="batches")
    outputs = _BatchOfSentences(tagger, out_dims, logit_shift, name="batch")(inputs)
    return Models(keras.Model(inputs, outputs, name="char_tagger_batches"), None)
