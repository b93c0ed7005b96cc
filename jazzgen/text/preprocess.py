"""`jazzgen preprocess FILE --task chars|words|classify|tag|dates`: text -> corpus directory.

The corpus is the same directory the jazz task writes (`core/corpus.py`); `corpus.json` records
the task, so `train`, `generate` and `evaluate` need no flag. What a piece is, per task:

    chars, words   a line (dinosaur name, verse) or a block of lines (a speech), as token ids
    classify       a sentence's word ids; pieces.jsonl holds its label and split
    tag            a sentence's word ids; pieces.jsonl holds one tag per word and the split
    dates          a human-written date's character ids; pieces.jsonl holds the ISO target

For classify, tag and dates the train/validation/test split is drawn here (seeded), and the
vocabulary comes from the training pieces only, so test words the model never saw are <unk>.
Which of these a task is, is said by its `TextKind` (made by its object in `jazzgen.tasks.text`);
nothing here tests a task's name.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jazzgen.config import Config
from jazzgen.core.corpus import write_corpus
from jazzgen.core.rundir import directory_path
from jazzgen.core.vocab import Vocab
from jazzgen.errors import InputError, UsageError
from jazzgen.text.dates import date_pairs
from jazzgen.text.readers import (
    input_files,
    parse_labelled,
    parse_tagged,
    read_text,
    split_blocks,
    split_lines,
)
from jazzgen.text.tokenizers import CharTokenizer, WordTokenizer, map_unknown

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class TextKind:
    """How one text task turns files into pieces (its task object in `jazzgen.tasks.text` says).

    Attributes:
        name: the task's name, recorded in corpus.json.
        tokenizer: the tokenizer for the settings (`char_tokenizer`, `word_tokenizer` ...).
        read: (file text, path, cfg, tokenizer, log) -> [(tokens, piece dict)] of one file.
        empty: the skip reason of a file that holds no piece.
        held_out: draw the train/validation/test split here (vocabulary from training only).
        labels: the corpus's label set from its pieces (classify, tag), or None.
        shapes: `text.unknown = "shape"` applies (rare words become shape classes).
        target_chars: the pieces' "target" characters join the vocabulary (a closed set).
        generated: pieces made from the settings when no source is given, or None.
    """

    name: str
    tokenizer: Callable[[Config], object]
    read: Callable
    empty: str = "no text"
    held_out: bool = False
    labels: Callable[[list[dict]], list[str]] | None = None
    shapes: bool = False
    target_chars: bool = False
    generated: Callable | None = None


def check_text_config(cfg: Config) -> None:
    """Refuse settings the text tasks cannot use, naming the key."""
    t = cfg.text
    if t.unit not in ("line", "block"):
        raise UsageError(f"text.unit must be 'line' or 'block' (got {t.unit!r})")
    if t.unknown not in ("unk", "shape"):
        raise UsageError(f"text.unknown must be 'unk' or 'shape' (got {t.unknown!r})")
    if t.split not in ("random", "files", "official"):
        raise UsageError(f"text.split must be 'random', 'files' or 'official' (got {t.split!r})")
    if t.min_count < 1:
        raise UsageError(f"text.min_count must be >= 1 (got {t.min_count})")
    if not 0 <= t.test_fraction < 1 or not 0 <= t.test_fraction + cfg.data.val_fraction < 1:
        raise UsageError("text.test_fraction and data.val_fraction must leave pieces to train on")
    for pair in t.label_names:
        if "=" not in pair:
            raise UsageError(f"text.label_names: want raw=name pairs, got {pair!r}")


# ---- tokenizers and readers the tasks choose from ---------------------------------------------

def char_tokenizer(cfg: Config) -> CharTokenizer:
    return CharTokenizer(lowercase=cfg.text.lowercase)


def word_tokenizer(cfg: Config) -> WordTokenizer:
    return WordTokenizer(lowercase=cfg.text.lowercase)


def lowercase_chars(cfg: Config) -> CharTokenizer:
    """Characters, lower case (the generated date inputs are)."""
    return CharTokenizer(lowercase=True)


def read_units(text: str, path: Path, cfg: Config, tokenizer, log) -> list[tuple[list[str], dict]]:
    """Language models: a line (dinosaur name, verse) or a block of lines (a speech) per piece."""
    units = split_lines(text) if cfg.text.unit == "line" else split_blocks(text)
    return [(tokenizer.encode(unit), {"source": str(path)}) for unit in units]


def read_labelled(text: str, path: Path, cfg: Config, tokenizer, log) -> list[tuple[list[str], dict]]:
    """classify: sentence<TAB>label lines (labels renamed by `text.label_names`)."""
    renames = dict(pair.split("=", 1) for pair in cfg.text.label_names)
    rows, bad = parse_labelled(text)
    if bad:
        log(f"warning: {path}: {bad} lines without sentence<TAB>label skipped")
    return [(tokens, {"source": str(path), "label": renames.get(label, label)})
            for sentence, label in rows if (tokens := tokenizer.encode(sentence))]


def read_tagged(text: str, path: Path, cfg: Config, tokenizer, log) -> list[tuple[list[str], dict]]:
    """tag: one word<TAB>tag per line, sentences between blank lines (CoNLL)."""
    try:
        sentences = parse_tagged(text)
    except ValueError as e:
        raise InputError(path, "not a tagged file", str(e)) from None
    return [([t.lower() if cfg.text.lowercase else t for t in tokens],
             {"source": str(path), "tags": tags, "words": tokens})  # words: as spelled
            for tokens, tags in sentences]


def read_pairs(text: str, path: Path, cfg: Config, tokenizer, log) -> list[tuple[list[str], dict]]:
    """dates: source<TAB>target lines."""
    out = []
    for line in text.split("\n"):
        source, tab, target = line.rpartition("\t")
        if tab and source.strip() and target.strip():
            out.append((tokenizer.encode(source.strip()), {"source": str(path), "target": target.strip()}))
    return out


def generated_dates(cfg: Config, tokenizer) -> tuple[list[list[str]], list[dict], list[dict]]:
    """dates without sources: `text.dates` pairs generated from `data.seed`."""
    pairs = date_pairs(cfg.text.dates, cfg.data.seed)
    return ([tokenizer.encode(s) for s, _ in pairs], [{"source": "generated", "target": t} for _, t in pairs],
            [{"file": f"generated (seed {cfg.data.seed})", "pieces": len(pairs)}])


def sentence_labels(pieces: list[dict]) -> list[str]:
    return sorted({piece["label"] for piece in pieces})


def word_tags(pieces: list[dict]) -> list[str]:
    return sorted({tag for piece in pieces for tag in piece["tags"]})


def assign_splits(sources: list[str], cfg: Config) -> list[str]:
    """"train", "val" or "test" for each piece (given the file it came from), seeded.

    split "random": test_fraction of all pieces are test, val_fraction validation.
    split "files": pieces of a file whose name holds "test" are the test set; the others are
    split into train and validation by val_fraction.
    split "official": the same, but the pieces of a file whose name holds "dev" are the
    validation set (val_fraction then applies only when no file is "dev").
    """
    n = len(sources)
    rng = np.random.default_rng(cfg.data.seed)
    split = np.array(["train"] * n, dtype=object)
    val_fraction = cfg.data.val_fraction
    if cfg.text.split in ("files", "official"):
        names = [Path(s).name.lower() for s in sources]
        is_test = np.array(["test" in name for name in names])
        if not is_test.any():
            raise UsageError(f"text.split = '{cfg.text.split}': no source has 'test' in its name")
        is_dev = np.array([cfg.text.split == "official" and "dev" in name for name in names])
        is_dev &= ~is_test
        split[is_test], split[is_dev] = "test", "val"
        rest = np.flatnonzero(~is_test & ~is_dev)
        n_test, val_fraction = 0, 0.0 if is_dev.any() else val_fraction
    else:
        rest = np.arange(n)
        n_test = int(round(n * cfg.text.test_fraction))
    order = rest[rng.permutation(len(rest))]
    n_val = int(round(len(rest) * val_fraction))
    split[order[:n_test]] = "test"
    split[order[n_test: n_test + n_val]] = "val"
    if not (split == "train").any():
        raise UsageError(f"only {n} pieces: none left to train on")
    return split.tolist()


def _read_pieces(kind: TextKind, cfg: Config, files: list[Path], log: Callable[[str], None]):
    """-> (token lists, per-piece dicts, kept manifest rows, skipped manifest rows)."""
    tokenizer = kind.tokenizer(cfg)
    token_lists, pieces, kept, skipped = [], [], [], []
    for path in files:
        try:
            f = read_text(path, int(cfg.preprocess.max_file_mb * 1e6))
        except InputError as e:
            if len(files) == 1:
                raise
            skipped.append({"file": str(path), "reason": e.reason, "detail": e.detail})
            log(f"skipped {e}")
            continue
        for warning in f.warnings:
            log(f"warning: {warning}")
        found = kind.read(f.text, path, cfg, tokenizer, log)
        if not found:
            if len(files) == 1:
                raise InputError(path, kind.empty)
            skipped.append({"file": str(path), "reason": kind.empty, "detail": ""})
            continue
        token_lists += [tokens for tokens, _ in found]
        pieces += [piece for _, piece in found]
        kept.append({"file": str(path), "pieces": len(found), "encoding": f.encoding,
                     "replaced_bytes": f.replaced})
    return token_lists, pieces, kept, skipped


def preprocess_text(kind: TextKind, cfg: Config, log: Callable[[str], None] = print) -> dict:
    """Build the corpus of a text task of this `kind`; returns a summary dict.

    `cfg.preprocess.sources` are text files or folders (they may be empty when the kind
    generates its pieces, e.g. dates from `data.seed`).

    Raises:
        UsageError: bad settings, a missing source or output.
        InputError: the only file given is empty, not text, or holds nothing for the task.
    """
    check_text_config(cfg)
    p, task = cfg.preprocess, kind.name
    if not p.output:
        raise UsageError("preprocess: give the corpus directory with -o")
    out = directory_path(p.output)
    t0 = time.perf_counter()
    tokenizer = kind.tokenizer(cfg)
    if kind.generated and not p.sources:
        (token_lists, pieces, kept), skipped = kind.generated(cfg, tokenizer), []
    else:
        if not p.sources:
            raise UsageError("preprocess: give at least one text FILE")
        token_lists, pieces, kept, skipped = _read_pieces(kind, cfg, input_files(p.sources), log)
    if not pieces:
        raise InputError(", ".join(p.sources), "no usable text")

    extra: dict = {"text": {"unit": cfg.text.unit}}
    if kind.held_out:
        splits = assign_splits([piece["source"] for piece in pieces], cfg)
        for piece, split in zip(pieces, splits, strict=True):
            piece["split"] = split
        train_tokens = [t for tokens, s in zip(token_lists, splits, strict=True) if s == "train"
                        for t in tokens]
        if kind.target_chars:  # a closed character set: the targets' characters must have ids too
            train_tokens += [c for piece in pieces for c in piece["target"]]
        shapes = cfg.text.unknown == "shape" and kind.shapes
        if shapes:  # rare training words teach the model their shape classes
            counts = Counter(train_tokens)
            frequent = {t for t, n in counts.items() if n >= cfg.text.min_count}
            train_tokens = map_unknown(train_tokens, frequent, True)
            token_lists = [map_unknown(tokens, frequent, True) for tokens in token_lists]
            extra["text"]["unknown"] = "shape"
        vocab = Vocab.from_tokens(train_tokens, min_count=1 if shapes else cfg.text.min_count)
        if kind.labels:
            extra["labels"] = kind.labels(pieces)
        extra["splits"] = dict(Counter(splits))
    else:
        vocab = Vocab.from_tokens((t for tokens in token_lists for t in tokens),
                                  min_count=cfg.text.min_count)
    manifest = {"kept": kept, "skipped": skipped,
                "skipped_by_reason": dict(Counter(row["reason"] for row in skipped))}
    info = write_corpus(out, task, tokenizer.config(), vocab, token_lists, pieces, manifest, extra)
    unk = sum(1 for tokens in token_lists for t in tokens if t not in vocab)
    seconds = time.perf_counter() - t0
    log(f"{task}: {len(pieces)} pieces, {info['tokens']} tokens, vocabulary {len(vocab)}"
        + (f" ({unk} tokens -> <unk>)" if unk else "")
        + (f", labels {len(extra['labels'])}" if "labels" in extra else "")
        + (f", split {extra['splits']}" if "splits" in extra else "")
        + f", {seconds:.1f} s -> {out}")
    return {"task": task, "pieces": len(pieces), "tokens": info["tokens"], "vocab_size": len(vocab),
            "skipped": len(skipped), "seconds": seconds}
