"""A linear-chain CRF on top of a tagger: learned tag transitions, trained on whole sentences.

The tagger gives each word a score per tag, u_t (C,); the CRF adds learned transition scores,
start (C,) for the first tag and move (C, C) for tag j after tag i, and scores a tag path as

    s(y) = start[y_1] + sum_t u_t[y_t] + sum_{t>1} move[y_t-1, y_t]

Training minimises the sentence's negative log-likelihood, log Z - s(gold), where the
log-partition log Z = log sum_y exp s(y) over all C^T paths comes from the forward algorithm
(Lafferty et al. 2001; Lample et al. 2016). Unlike counted transitions added after training
(`decoding.py`), these are learned jointly with the per-word scores, so nothing is counted
twice. Decoding is `decoding.viterbi` over (u_t, start, move), with BIO's forbidden moves added.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class TagTransitions(keras.layers.Layer):
    """Holds the CRF's learned start (C,) and move (C, C) scores; passes the logits through.

    It sits after the tagger's head so that its weights are the tagger's (trained, checkpointed
    and exported with it); the sentence loss (`crf_sums`) reads them. Column 0 of the logits
    is the padding class, which has no transitions: C = logits' last size - 1.
    """

    def build(self, shape):
        n = shape[-1] - 1
        self.start = self.add_weight(shape=(n,), initializer="zeros", name="start")
        self.move = self.add_weight(shape=(n, n), initializer="zeros", name="move")

    def call(self, logits):
        return logits

    def compute_output_shape(self, shape):
        return shape


def log_partition(unary, lengths, start, move):
    """log Z of each sentence by the forward algorithm.

    Args:
        unary: per-word tag scores # (B, T, C)
        lengths: real words per sentence; words from lengths[b] on are padding # (B,) int32
        start: (C,); move: (C, C), tag j after tag i at [i, j]
    Returns:
        (B,) log Z (0 for an empty sentence).
    """
    alpha0 = start[None, :] + unary[:, 0]                                       # (B, C)
    steps = tf.transpose(unary[:, 1:], (1, 0, 2))                               # (T-1, B, C)
    t_index = tf.range(1, tf.shape(unary)[1])                                   # (T-1,)

    def step(alpha, inputs):
        u_t, t = inputs
        new = tf.reduce_logsumexp(alpha[:, :, None] + move[None], axis=1) + u_t  # (B, C)
        return tf.where((t < lengths)[:, None], new, alpha)  # padding keeps the last real alpha

    alphas = tf.scan(step, (steps, t_index), initializer=alpha0)                # (T-1, B, C)
    last = tf.concat([alpha0[None], alphas], axis=0)[-1]  # alpha0 itself when T = 1
    return tf.where(lengths > 0, tf.reduce_logsumexp(last, axis=1), 0.0)


def path_score(unary, tags, lengths, start, move):
    """s(y) of the given paths # (B,); tags (B, T) int32 in [0, C), padding positions ignored."""
    mask = tf.sequence_mask(lengths, tf.shape(unary)[1], dtype=unary.dtype)    # (B, T)
    words = tf.reduce_sum(tf.gather(unary, tags, axis=2, batch_dims=2) * mask, axis=1)
    first = tf.gather(start, tags[:, 0]) * tf.cast(lengths > 0, unary.dtype)
    pairs = tf.gather_nd(move, tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1))  # (B, T-1)
    return first + words + tf.reduce_sum(pairs * mask[:, 1:], axis=1)


def crf_sums(transitions: TagTransitions):
    """The training loop's batch sums for a CRF tagger: `sums(logits, y)` -> summed sentence
    NLL, counted tags, per-word argmax hits (like `core.training.masked_sums`, so the loop's
    loss is nats per tag). logits (..., B, T, 1 + C) with column 0 padding; y (..., B, T) tag
    ids 1..C, 0 = padding (each sentence's padding comes after its words)."""

    def sums(logits, y):
        c1 = tf.shape(logits)[-1]
        logits = tf.reshape(logits, (-1, tf.shape(logits)[-2], c1))           # (B, T, 1 + C)
        y = tf.reshape(y, (-1, tf.shape(y)[-1]))                              # (B, T)
        real = tf.not_equal(y, 0)
        lengths = tf.reduce_sum(tf.cast(real, tf.int32), axis=1)
        unary = logits[..., 1:]
        tags = tf.maximum(y - 1, 0)
        nll = (log_partition(unary, lengths, transitions.start, transitions.move)
               - path_score(unary, tags, lengths, transitions.start, transitions.move))
        mask = tf.cast(real, tf.float32)
        hits = tf.cast(tf.equal(tf.argmax(unary, -1, output_type=tf.int32), tags), tf.float32)
        return tf.reduce_sum(nll), tf.reduce_sum(mask), tf.reduce_sum(hits * mask)

    return sums
