"""Start a model on a larger vocabulary from a trained one: grown weights and re-indexed corpora.

Fine-tuning a trained next-value model on a new corpus keeps the trained vocabulary's ids and
appends the corpus's new tokens (`Vocab.union`). `grow_weights` adds one input row and one
output column per new token to an export's weights and leaves every trained row as it was;
`reindex_corpus` reads a corpus's ids in the larger vocabulary, so nothing in it is `<unk>`.

The fresh rows are deterministic (no random draw), so the starting model can be rebuilt from
the source export alone (`jazzgen evaluate` scores it as the source model's zero-shot figure):

- input: the mean of the trained embedding rows, i.e. "some value" to the recurrent layers;
- output: a zero kernel column and the smallest trained bias, so before any step a new token is
  as likely as the rarest trained one in every context, and the trained tokens' logits are
  unchanged (their probabilities shrink only by the small mass the new tokens take).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from jazzgen.core.corpus import Corpus
from jazzgen.core.gates import grow_gates
from jazzgen.core.models import ModelConfig
from jazzgen.core.vocab import Vocab
from jazzgen.errors import UsageError


def grow_weights(weights: dict[str, np.ndarray], cfg: ModelConfig, old: Vocab, new: Vocab
                 ) -> dict[str, np.ndarray]:
    """Export weights of a head-"next" model on `old`, resized to the vocabulary `new`.

    Args:
        weights: named as by `models.export_weights`: `embedding` (V, E) (or, for one-hot
            input, `layer0/kernel` (V, k n_a)), `head/kernel` (n_a, V), `head/bias` (V,).
        cfg: the model's shape (head "next", not bidirectional).
        old: the vocabulary the weights were trained on.
        new: a vocabulary holding every token of `old` (any order; `old.union(...)` keeps ids).

    Returns:
        A new dict: rows of tokens in `old` copied exactly to their ids in `new`, fresh rows
        as the module docstring says, every other array unchanged.

    Raises:
        ValueError: `new` lacks a token of `old`, or the weights do not fit `old`.
    """
    if cfg.head != "next" or cfg.bidirectional:
        raise ValueError("only a unidirectional head 'next' model can grow its vocabulary")
    missing = [t for t in old.tokens if t not in new]
    if missing:
        raise ValueError(f"the new vocabulary lacks {len(missing)} trained tokens (first {missing[0]!r})")
    if weights["head/bias"].shape != (len(old),):
        raise ValueError(f"weights are for {weights['head/bias'].shape[0]} tokens, the vocabulary "
                         f"has {len(old)}")
    to_new = old.id_map(new)                                   # (V_old,) ids in `new`
    fresh = np.ones(len(new), bool)
    fresh[to_new] = False                                      # (V_new,) True for new tokens
    grown = dict(weights)
    first = "embedding" if cfg.embedding_dim else "layer0/kernel"  # rows indexed by input id
    rows = weights[first]                                      # (V_old, width)
    out = np.empty((len(new), rows.shape[1]), rows.dtype)
    out[to_new] = rows
    out[fresh] = rows.mean(axis=0)
    grown[first] = out
    kernel, bias = weights["head/kernel"], weights["head/bias"]   # (n_a, V_old), (V_old,)
    new_kernel = np.zeros((kernel.shape[0], len(new)), kernel.dtype)
    new_kernel[:, to_new] = kernel
    new_bias = np.full(len(new), bias.min(), bias.dtype)
    new_bias[to_new] = bias
    grown["head/kernel"], grown["head/bias"] = new_kernel, new_bias
    grown.update(grow_gates(weights, to_new, len(new)))  # new tokens are ungated
    return grown


def reindex_corpus(corpus: Corpus, vocab: Vocab) -> Corpus:
    """The same corpus with its ids in `vocab` (tokens `vocab` lacks become `<unk>`).

    Its `hash` stays the corpus's own (run.json records which corpus trained the run); the ids
    are held in memory (# (N_tokens,) int32), which a corpus small enough to fine-tune on allows.
    """
    if vocab.tokens == corpus.vocab.tokens:
        return corpus
    ids = corpus.vocab.id_map(vocab)[np.asarray(corpus.ids)]
    return replace(corpus, vocab=vocab, ids=ids)


def file_sha256(path) -> str:
    """The first 16 hex digits of a file's SHA-256 (a source export's identity)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def source_engine(run, problems: list[str]):
    """A numpy engine of the model a fine-tuned `Run` started from (its zero-shot self), or None.

    None (with the reason appended to `problems`) when the run was not fine-tuned or its source
    is gone or has changed since.
    """
    from jazzgen.core.engine import NumpyEngine
    from jazzgen.core.models import load_export
    from jazzgen.core.rundir import open_run

    record = run.info.get("source")
    if not record:
        return None
    where = None if record["spec"] == "default" else record["path"]  # None: the bundled run
    try:
        source = open_run(where, warn=lambda m: None)
    except UsageError as e:
        problems.append(f"source model not readable ({e}): zero-shot figure skipped")
        return None
    if source.vocab.hash != record["vocab_hash"] or file_sha256(source.export_path) != record["export_sha256"]:
        problems.append(f"source model {source.path} changed since the run started: zero-shot figure skipped")
        return None
    exported = load_export(source.export_path)
    weights = grow_weights(exported.weights, exported.cfg, source.vocab, run.vocab)
    return NumpyEngine(exported.cfg, weights, len(run.vocab))
