"""Scores for the labelled text tasks, and the simple baselines a model has to beat.

Plain Python over lists of label strings, so every number in `jazzgen evaluate` can be checked
by hand: accuracy, per-class and macro F1, BIO entity spans and entity-level F1 (exact span and
type, as conlleval counts them), majority-class and most-frequent-tag baselines.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of positions where the prediction equals the gold label."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / max(len(gold), 1)


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def class_f1(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict:
    """F1 of every label (one-vs-rest) and their unweighted mean, "macro_f1"."""
    per_label = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        per_label[label] = round(_f1(tp, fp, fn)[2], 4)
    return {"f1": per_label, "macro_f1": sum(per_label.values()) / max(len(per_label), 1)}


def bio_spans(tags: Sequence[str]) -> set[tuple[int, int, str]]:
    """Entity spans (start, end exclusive, type) of a BIO sequence.

    An `I-x` that does not continue an `x` entity starts a new one (the conlleval convention).
    """
    spans, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, label = tag.partition("-")
        continues = prefix == "I" and kind == label and start is not None
        if start is not None and not continues:
            spans.add((start, i, kind))
            start, kind = None, None
        if prefix in ("B", "I") and not continues:
            start, kind = i, label
    return spans


def entity_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict:
    """Entity-level precision, recall and F1 over sentences of BIO tags (exact span and type)."""
    tp = fp = fn = 0
    for g, p in zip(gold, predicted, strict=True):
        gs, ps = bio_spans(g), bio_spans(p)
        tp, fp, fn = tp + len(gs & ps), fp + len(ps - gs), fn + len(gs - ps)
    precision, recall, f1 = _f1(tp, fp, fn)
    return {"precision": precision, "recall": recall, "f1": f1, "entities": tp + fn}


def entity_f1_by_type(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict:
    """Entity precision, recall, F1 and gold count per entity type (exact span), sorted by type."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    for g, p in zip(gold, predicted, strict=True):
        gs, ps = bio_spans(g), bio_spans(p)
        for span in gs & ps:
            counts[span[2]][0] += 1
        for span in ps - gs:
            counts[span[2]][1] += 1
        for span in gs - ps:
            counts[span[2]][2] += 1
    out = {}
    for kind in sorted(counts):
        tp, fp, fn = counts[kind]
        precision, recall, f1 = _f1(tp, fp, fn)
        out[kind] = {"precision": round(precision, 4), "recall": round(recall, 4),
                     "f1": round(f1, 4), "entities": tp + fn}
    return out


def invalid_bio(tags: Sequence[str]) -> int:
    """How many `I-x` tags do not continue an `x` entity (`O I-x`, `B-y I-x`, a first `I-x`)."""
    bad, prev = 0, "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            bad += 1
        prev = tag
    return bad


def split_accuracy(gold: Sequence[str], predicted: Sequence[str], known: Sequence[bool]
                   ) -> tuple[float | None, float | None]:
    """Accuracy on the positions whose word was seen in training, and on the others
    (None where there are none)."""
    hits = {True: [0, 0], False: [0, 0]}
    for g, p, k in zip(gold, predicted, known, strict=True):
        hits[bool(k)][0] += g == p
        hits[bool(k)][1] += 1
    return tuple(h / n if n else None for h, n in (hits[True], hits[False]))  # type: ignore


def is_bio(labels: Sequence[str]) -> bool:
    """True when the tag set looks like BIO (every tag is O, B-x or I-x, and some are B-x)."""
    return any(t.startswith("B-") for t in labels) and all(
        t == "O" or t.startswith(("B-", "I-")) for t in labels)


def majority_label(labels: Sequence[str]) -> str:
    """The most frequent label (ties: the first in sorted order)."""
    counts = Counter(labels)
    return min(counts, key=lambda label: (-counts[label], label))


class MostFrequentTag:
    """Baseline tagger: each word gets the tag it had most often in training; unseen words
    get the most frequent tag overall."""

    def __init__(self, sentences: Sequence[tuple[Sequence[str], Sequence[str]]]):
        by_word: dict[str, Counter] = defaultdict(Counter)
        overall: Counter = Counter()
        for tokens, tags in sentences:
            for token, tag in zip(tokens, tags, strict=True):
                by_word[token][tag] += 1
                overall[tag] += 1
        self.default = min(overall, key=lambda t: (-overall[t], t))
        self.table = {w: min(c, key=lambda t, c=c: (-c[t], t)) for w, c in by_word.items()}

    def tag(self, tokens: Sequence[str]) -> list[str]:
        return [self.table.get(token, self.default) for token in tokens]
