"""Dates: the encoder-decoder's greedy translations and their evaluation (runs Keras graphs)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from jazzgen.config import GenerateConfig
from jazzgen.core.corpus import Corpus
from jazzgen.core.rundir import Run
from jazzgen.core.scoring import log_softmax
from jazzgen.core.vocab import BOS, EOS
from jazzgen.text.inference import held_out_corpus, held_out_pieces, source_text
from jazzgen.text.tokenizers import tokenizer_from_config


def _seq2seq(run: Run):
    from jazzgen.core.seq2seq import load_seq2seq

    return load_seq2seq(run.export_path)


def translate(run: Run, sources: Sequence[str], models=None) -> list[tuple[str, float]]:
    """Greedy decoding of each source text -> (output text, its probability under the model)."""
    from jazzgen.core.seq2seq import greedy_decode

    models = models or _seq2seq(run)
    tokenizer = tokenizer_from_config(run.task["tokenizer"])
    v = run.vocab
    X = np.zeros((len(sources), models.src_len), np.int32)
    for i, s in enumerate(sources):
        ids = v.encode(tokenizer.encode(s))[: models.src_len]
        X[i, : len(ids)] = ids
    results = []
    for b in range(0, len(sources), 512):
        ids, logp = greedy_decode(models, X[b: b + 512], v.id(BOS), v.id(EOS))
        results += [(tokenizer.decode(v.decode(o)), float(np.exp(lp)))
                    for o, lp in zip(ids, logp, strict=True)]
    return results


def evaluate_dates(run: Run, corpus: Corpus) -> dict:
    from jazzgen.core.seq2seq import pack_pairs

    models = _seq2seq(run)
    idx, split = held_out_pieces(run)
    v = corpus.vocab
    sources = [source_text(run, corpus, i) for i in idx]
    targets = [corpus.pieces[i]["target"] for i in idx]
    outputs = [o for o, _ in translate(run, sources, models)]
    X, Y = pack_pairs([corpus.piece_ids(i) for i in idx], [v.encode(list(t)) for t in targets],
                      models.src_len, models.tgt_len, v.id(BOS), v.id(EOS))
    logp = log_softmax(models.train.predict(X, batch_size=512, verbose=0))  # (N, Ty, V)
    picked = np.take_along_axis(logp, Y[..., None].astype(np.int64), axis=-1)[..., 0]
    mask = Y != 0
    loss = float(-(picked * mask).sum() / mask.sum())
    pairs = list(zip(outputs, targets, strict=True))
    chars = [a == b for o, t in pairs for a, b in zip(o.ljust(len(t)), t, strict=False)]
    wrong = [f"{s} -> {o} (want {t})" for s, (o, t) in zip(sources, pairs, strict=True) if o != t]
    return {"split": split, "pieces": len(idx), "loss": loss, "perplexity": math.exp(loss),
            "exact_match": sum(o == t for o, t in pairs) / max(len(idx), 1),
            "char_accuracy": sum(chars) / max(len(chars), 1), "errors": wrong[:5]}



def date_samples(run: Run, g: GenerateConfig, primer: str = "") -> list[str]:
    """"input<TAB>output" lines: the primer translated, else `g.count` held-out inputs (seeded)."""
    if primer:
        sources = [primer]
    else:
        corpus = held_out_corpus(run)
        test = run.info.get("test_pieces") or run.info.get("val_pieces") or []
        pick = np.random.default_rng(g.seed).permutation(test)[: g.count]
        sources = [source_text(run, corpus, int(i)) for i in pick]
    outputs = translate(run, sources)
    return [f"{s}\t{o}" for s, (o, _) in zip(sources, outputs, strict=True)]


def predict_dates(run: Run, texts: Sequence[str]) -> list[str]:
    """One "ISO date<TAB>probability" line per input."""
    return [f"{o}\t{p:.4f}" for o, p in translate(run, texts)]
