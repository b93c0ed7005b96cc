"""Labelled text (classify, tag): label probabilities on the numpy engine, evaluation, predict."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from jazzgen.core.corpus import Corpus
from jazzgen.core.rundir import Run
from jazzgen.core.scoring import log_softmax
from jazzgen.errors import UsageError
from jazzgen.text.inference import held_out_pieces
from jazzgen.text.tokenizers import map_unknown, tokenizer_from_config


def label_probs(run: Run, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Label probabilities per sentence (classify: (C,)) or per token (tag: (T, C)), padding
    class dropped. Sentences of equal length run together, unpadded, as the masked model saw."""
    from jazzgen.core.engine import NumpyEngine

    engine = NumpyEngine.from_export(run.export_path)
    out: list[np.ndarray] = [np.zeros(0)] * len(sequences)
    by_length: dict[int, list[int]] = {}
    for i, s in enumerate(sequences):
        by_length.setdefault(len(s), []).append(i)
    for length, idx in by_length.items():
        if length == 0:
            continue
        logits = engine.forward(np.asarray([sequences[i] for i in idx], np.int64))
        probs = np.exp(log_softmax(np.asarray(logits)[..., 1:]))      # drop padding class 0
        for j, i in enumerate(idx):
            out[i] = probs[j]
    return out


def evaluate_classify(run: Run, corpus: Corpus) -> dict:
    from jazzgen.text.metrics import accuracy, class_f1, majority_label

    labels = run.task["labels"]
    idx, split = held_out_pieces(run)
    seq_len = run.config.data.seq_len
    probs = label_probs(run, [corpus.piece_ids(i)[:seq_len] for i in idx])
    gold = [corpus.pieces[i]["label"] for i in idx]
    pred = [labels[int(p.argmax())] for p in probs]
    nll = [-math.log(max(p[labels.index(g)], 1e-12)) for p, g in zip(probs, gold, strict=True)]
    train_labels = [corpus.pieces[i]["label"] for i in run.info["train_pieces"]]
    majority = majority_label(train_labels)
    f1, base_f1 = class_f1(gold, pred, labels), class_f1(gold, [majority] * len(gold), labels)
    loss = float(np.mean(nll))
    return {"split": split, "pieces": len(idx), "loss": loss, "perplexity": math.exp(loss),
            "accuracy": accuracy(gold, pred), "macro_f1": f1["macro_f1"], "f1": f1["f1"],
            "baseline": "majority class", "majority_label": majority,
            "baseline_accuracy": accuracy(gold, [majority] * len(gold)),
            "baseline_macro_f1": base_f1["macro_f1"]}


def evaluate_tag(run: Run, corpus: Corpus) -> dict:
    """Tag runs (word-only or character taggers, argmax or Viterbi): see `text/tagging.py`."""
    from jazzgen.text.tagging import evaluate_tag as evaluate

    return evaluate(run, corpus)


def predict_labels(run: Run, texts: Sequence[str]) -> list[str]:
    """classify: one "label<TAB>probability" line per input; tag: one "token<TAB>tag<TAB>probability"
    line per token, sentences separated by a blank line."""
    tokenizer = tokenizer_from_config(run.task["tokenizer"])
    labels = run.task["labels"]
    token_lists = [tokenizer.encode(t) for t in texts]
    if not all(token_lists):
        raise UsageError("predict: an input has no words")
    seq_len = run.config.data.seq_len
    shapes = run.task.get("unknown") == "shape"
    many_to_one = run.config.model.head == "classify"
    keep = seq_len if many_to_one else None  # the classifier reads the first seq_len words
    if many_to_one:
        ids = [run.vocab.encode(map_unknown(t, run.vocab, shapes))[:keep] for t in token_lists]
        return [f"{labels[int(p.argmax())]}\t{p.max():.4f}" for p in label_probs(run, ids)]
    from jazzgen.text.tagging import predict_tags  # word-only or character tagger, Viterbi

    # words as written: a character tagger reads their capitals even when the ids fold case
    token_lists = [tokenizer_from_config({**run.task["tokenizer"], "lowercase": False}).encode(t)
                   for t in texts]
    blocks = ["\n".join(f"{tok}\t{tag}\t{p:.4f}" for tok, (tag, p) in zip(tokens, tagged, strict=True))
              for tokens, tagged in zip(token_lists, predict_tags(run, token_lists), strict=True)]
    return "\n\n".join(blocks).split("\n")
