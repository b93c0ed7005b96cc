"""Language models (chars, words): samples, held-out scoring, the probability of a sentence.

They run on the numpy engine, so none of this imports TensorFlow.
"""

from __future__ import annotations

import math

import numpy as np

from jazzgen.config import GenerateConfig
from jazzgen.core.corpus import Corpus
from jazzgen.core.rundir import Run
from jazzgen.core.scoring import sequence_log_probs
from jazzgen.core.vocab import BOS, EOS, PAD, UNK
from jazzgen.errors import UsageError
from jazzgen.text.tokenizers import tokenizer_from_config


def _lm_engine(run: Run, backend: str = "numpy"):
    from jazzgen.core.engine import load_engine

    return load_engine(run.export_path, backend)


def primer_ids(run: Run, tokenizer, primer: str) -> list[int]:
    tokens = tokenizer.encode(primer)
    unknown = sorted({t for t in tokens if t not in run.vocab})
    if unknown and not tokenizer.unknown_ok:
        raise UsageError(f"the model never saw {', '.join(map(repr, unknown))}; change the primer")
    return run.vocab.encode(tokens)


def sample_texts(run: Run, g: GenerateConfig, primer: str = "", length: int = 300) -> list[str]:
    """`g.count` samples from a language model, each starting with `primer`, ending at <eos>."""
    from jazzgen.core.sampling import sample_sequences

    tokenizer = tokenizer_from_config(run.task["tokenizer"])
    v = run.vocab
    start = primer_ids(run, tokenizer, primer) if primer else []
    allowed = np.ones(len(v), bool)
    allowed[[v.id(PAD), v.id(BOS), v.id(UNK)]] = False                   # never printed
    rng = np.random.default_rng(g.seed)
    sequences = sample_sequences(_lm_engine(run, g.backend), g.count, rng, start_id=v.id(BOS),
                                 max_steps=length, temperature=g.temperature, top_k=g.top_k,
                                 allowed=allowed, stop_id=v.id(EOS), primer=start)
    return [tokenizer.decode(v.decode(start + ids)) for ids in sequences]


def evaluate_lm(run: Run, corpus: Corpus, sentence: str | None, samples: int,
                 seed: int) -> dict:
    from jazzgen.core.ngram import NGramModel

    v = corpus.vocab
    bos, eos = v.id(BOS), v.id(EOS)
    val = [corpus.piece_ids(i) for i in run.info.get("val_pieces", [])]
    if not val:
        raise UsageError(f"{run.path}: no validation pieces to score (data.val_fraction = 0)")
    train = [corpus.piece_ids(i) for i in run.info["train_pieces"]]
    engine = _lm_engine(run)
    logp = sequence_log_probs(engine, val, bos, eos)
    n_tokens = sum(len(lp) for lp in logp)
    loss = float(-sum(lp.sum() for lp in logp) / n_tokens)
    order = run.config.text.ngram_order
    ngram = NGramModel(order, len(v), bos_id=bos).fit([list(s) + [eos] for s in train])
    base = ngram.mean_nll([list(s) + [eos] for s in val])
    result = {"split": "validation", "pieces": len(val), "tokens": n_tokens, "loss": loss,
              "perplexity": math.exp(loss), "bits_per_token": loss / math.log(2),
              "baseline": f"{order}-gram Kneser-Ney", "baseline_loss": base,
              "baseline_perplexity": math.exp(base)}
    if samples > 0:
        tokenizer = tokenizer_from_config(run.task["tokenizer"])
        seen = {tokenizer.decode(v.decode(s)) for s in train}
        texts = sample_texts(run, GenerateConfig(count=samples, seed=seed),
                             length=run.config.text.length)
        result["samples"] = len(texts)
        result["novel_fraction"] = sum(t not in seen for t in texts) / len(texts)
        result["examples"] = texts[:5]
    if sentence is not None:
        result["sentence"] = sentence_probability(run, sentence, engine, ngram)
    return result


def sentence_probability(run: Run, sentence: str, engine=None, ngram=None) -> dict:
    """P(y_1 .. y_T, <eos>) = prod_t P(y_t | y_<t) under the model (and the n-gram baseline).

    Returns:
        {"text", "tokens", "log_prob" (nats), "prob", "per_token": [[token, P], ...]}
    """
    tokenizer = tokenizer_from_config(run.task["tokenizer"])
    tokens = tokenizer.encode(sentence)
    if not tokens:
        raise UsageError("--sentence is empty")
    ids = primer_ids(run, tokenizer, sentence)
    v = run.vocab
    lp = sequence_log_probs(engine or _lm_engine(run), [ids], v.id(BOS), v.id(EOS))[0]
    out = {"text": sentence, "tokens": len(tokens) + 1, "log_prob": float(lp.sum()),
           "prob": float(np.exp(lp.sum())),
           "per_token": [[t, round(float(np.exp(x)), 6)] for t, x in
                         zip(v.decode(ids) + [EOS], lp, strict=True)]}
    if ngram is not None:
        padded = [v.id(BOS)] * (ngram.order - 1) + ids + [v.id(EOS)]
        out["baseline_log_prob"] = float(sum(
            ngram.log_prob(padded[t - ngram.order + 1: t], padded[t])
            for t in range(ngram.order - 1, len(padded))))
    return out

