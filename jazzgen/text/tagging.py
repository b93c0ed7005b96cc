"""`evaluate` and `predict` for tag runs (word-only or character taggers, argmax or Viterbi).

`evaluate` scores the held-out sentences next to the most-frequent-tag-per-word baseline:
tag accuracy, accuracy on words seen in training (`known_accuracy`) and on words never seen
(`unknown_accuracy`, where a word-only model can only guess from a shape class), and for BIO
tag sets entity precision/recall/F1 overall and per entity type (exact span and type). With
`text.decode = "viterbi"` (or "crf", whose Viterbi reads the transitions the tagger learned)
the figures are for Viterbi paths; `argmax_*` keeps the per-word
decoding's for comparison, and `argmax_invalid_bio` counts the `I-x` tags it output that
continue no entity (Viterbi outputs none).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from jazzgen.core.corpus import Corpus
from jazzgen.core.rundir import Run
from jazzgen.core.vocab import UNK
from jazzgen.text.decoding import transition_scores, viterbi, weighted


def uses_chars(run: Run) -> bool:
    """Whether the run is a character tagger (its export is not the numpy engine's)."""
    return run.task.get("features") == "chars"


def tag_probabilities(run: Run, word_ids: Sequence[Sequence[int]],
                      words: Sequence[Sequence[str]] | None) -> list[np.ndarray]:
    """Per-word tag probabilities (T_i, C) of each sentence, whichever model the run holds."""
    if uses_chars(run):
        from jazzgen.text.char_tagger import CharTagger

        return CharTagger(run.export_path).probabilities(word_ids, words)
    from jazzgen.text.labels import label_probs

    return label_probs(run, word_ids)


def transitions(run: Run, corpus: Corpus | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The run's tag transition scores (start (C,), move (C, C)): saved in task.json by
    character taggers, else counted on the training pieces of `corpus` (default: the run's)."""
    saved = run.task.get("transitions")
    if saved:
        return np.asarray(saved["start"]), np.asarray(saved["move"])
    if corpus is None:
        from jazzgen.text.inference import held_out_corpus

        corpus = held_out_corpus(run)
    tags = [corpus.pieces[i]["tags"] for i in run.info["train_pieces"]]
    return transition_scores(tags, run.task["labels"])


def decode(run: Run, probs: Sequence[np.ndarray], corpus: Corpus | None = None,
           method: str | None = None) -> list[list[str]]:
    """Tag strings for each sentence: per-word argmax, Viterbi over `transitions` weighted by
    `text.transition_weight`, or ("crf") Viterbi over the transitions the CRF tagger learned
    (method None: the run's `text.decode`)."""
    labels = run.task["labels"]
    method = method or run.config.text.decode
    if method not in ("viterbi", "crf"):
        return [[labels[int(k)] for k in p.argmax(axis=-1)] if len(p) else [] for p in probs]
    if method == "crf":
        from jazzgen.text.char_tagger import CharTagger

        start, move = CharTagger(run.export_path).transitions(labels)
    else:
        start, move = transitions(run, corpus)
        w = run.config.text.transition_weight
        start, move = weighted(start, w), weighted(move, w)
    return [[labels[k] for k in viterbi(np.log(np.maximum(p, 1e-12)), start, move)]
            for p in probs]


def _known_words(run: Run, corpus: Corpus, idx: Sequence[int]) -> list[bool]:
    """Per held-out word: was this spelling among the training words?"""
    if all("words" in corpus.pieces[i] for i in [*run.info["train_pieces"], *idx]):
        seen = {w for i in run.info["train_pieces"] for w in corpus.pieces[i]["words"]}
        return [w in seen for i in idx for w in corpus.pieces[i]["words"]]
    v = corpus.vocab  # older corpora: a word is unknown when it is an <unk> class
    return [not v.decode([t])[0].startswith(UNK[:-1]) for i in idx for t in corpus.piece_ids(i)]


def evaluate_tag(run: Run, corpus: Corpus) -> dict:
    """The `evaluate` figures of a tag run on its test split (validation when there is none)."""
    from jazzgen.text.inference import held_out_pieces
    from jazzgen.text.metrics import (
        MostFrequentTag,
        accuracy,
        entity_f1,
        entity_f1_by_type,
        invalid_bio,
        is_bio,
        split_accuracy,
    )

    labels = run.task["labels"]
    idx, split = held_out_pieces(run)
    words = ([corpus.pieces[i]["words"] for i in idx]
             if all("words" in corpus.pieces[i] for i in idx) else None)
    probs = tag_probabilities(run, [corpus.piece_ids(i) for i in idx], words)
    gold = [corpus.pieces[i]["tags"] for i in idx]
    pred = decode(run, probs, corpus)
    index = {tag: k for k, tag in enumerate(labels)}
    nll = [-math.log(max(p[t, index[tag]], 1e-12))
           for p, tags in zip(probs, gold, strict=True) for t, tag in enumerate(tags)]
    baseline = MostFrequentTag([(corpus.piece_ids(i).tolist(), corpus.pieces[i]["tags"])
                                for i in run.info["train_pieces"]])
    base = [baseline.tag(corpus.piece_ids(i).tolist()) for i in idx]
    flat = lambda seqs: [t for s in seqs for t in s]  # noqa: E731
    known = _known_words(run, corpus, idx)
    k_acc, u_acc = split_accuracy(flat(gold), flat(pred), known)
    bk_acc, bu_acc = split_accuracy(flat(gold), flat(base), known)
    loss = float(np.mean(nll))
    result = {"split": split, "pieces": len(idx), "tokens": len(nll), "loss": loss,
              "perplexity": math.exp(loss), "decode": run.config.text.decode,
              "accuracy": accuracy(flat(gold), flat(pred)),
              "known_accuracy": k_acc, "unknown_accuracy": u_acc,
              "unknown_words": known.count(False),
              "baseline": "most frequent tag per word",
              "baseline_accuracy": accuracy(flat(gold), flat(base)),
              "baseline_known_accuracy": bk_acc, "baseline_unknown_accuracy": bu_acc}
    if is_bio(labels):
        e, b = entity_f1(gold, pred), entity_f1(gold, base)
        result.update(entity_precision=e["precision"], entity_recall=e["recall"],
                      entity_f1=e["f1"], entities=e["entities"], baseline_entity_f1=b["f1"],
                      baseline_entity_precision=b["precision"], baseline_entity_recall=b["recall"],
                      invalid_bio=sum(invalid_bio(p) for p in pred))
        if run.config.text.decode in ("viterbi", "crf"):
            greedy = decode(run, probs, method="argmax")
            result.update(argmax_entity_f1=entity_f1(gold, greedy)["f1"],
                          argmax_invalid_bio=sum(invalid_bio(p) for p in greedy))
        result["per_type"] = entity_f1_by_type(gold, pred)
        result["baseline_per_type"] = {k: v["f1"] for k, v in entity_f1_by_type(gold, base).items()}
    return result


def predict_tags(run: Run, token_lists: Sequence[Sequence[str]], corpus: Corpus | None = None
                 ) -> list[list[tuple[str, float]]]:
    """(tag, probability) per token (as written) of each sentence (Viterbi runs: see
    `transitions`); the word ids fold case as the run's tokenizer did in training."""
    from jazzgen.text.tokenizers import map_unknown

    shapes = run.task.get("unknown") == "shape"
    fold = run.task.get("tokenizer", {}).get("lowercase", False)
    ids = [run.vocab.encode(map_unknown([w.lower() for w in t] if fold else list(t), run.vocab,
                                        shapes)) for t in token_lists]
    probs = tag_probabilities(run, ids, token_lists)
    index = {tag: k for k, tag in enumerate(run.task["labels"])}
    return [[(tag, float(p[t, index[tag]])) for t, tag in enumerate(tags)]
            for p, tags in zip(probs, decode(run, probs, corpus), strict=True)]
