"""`jazzgen preprocess FILE --task chars|words|classify|tag|dates`: text -> corpus directory.

The corpus is the same directory the jazz task writes (`core/corpus.py`); `corpus.json` records
the task, so `train`, `generate` and `evaluate` need no flag. What a piece is, per task:

    chars, words   a line (dinosaur name, verse) or a block of lines (a speech), as token ids
    classify       a sentence's word ids; pieces.jsonl holds its label and split
    tag            a sentence's word ids; pieces.jsonl holds one tag per word and the split
    dates          a human-written date's character ids; pieces.jsonl holds the ISO target

For classify, tag and dates the train/validation/test split is drawn here (seeded), and the
vocabulary comes from the training pieces only, so test words the model never saw are <unk>.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
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

TEXT_TASKS = ("chars", "words", "classify", "tag", "dates")
SPLITS = ("train", "val", "test")


def check_text_config(cfg: Config) -> None:
    """Refuse settings the text tasks cannot use, naming the key."""
    t = cfg.text
    if cfg.preprocess.task not in TEXT_TASKS:
        raise UsageError(f"unknown task {cfg.preprocess.task!r} "
                         f"(known: jazz, {', '.join(TEXT_TASKS)})")
    if t.unit not in ("line", "block"):
        raise UsageError(f"text.unit must be 'line' or 'block' (got {t.unit!r})")
    if t.unknown not in ("unk", "shape"):
        raise UsageError(f"text.unknown must be 'unk' or 'shape' (got {t.unknown!r})")
    if t.split not in ("random", "files"):
        raise UsageError(f"text.split must be 'random' or 'files' (got {t.split!r})")
    if t.min_count < 1:
        raise UsageError(f"text.min_count must be >= 1 (got {t.min_count})")
    if not 0 <= t.test_fraction < 1 or not 0 <= t.test_fraction + cfg.data.val_fraction < 1:
        raise UsageError("text.test_fraction and data.val_fraction must leave pieces to train on")
    for pair in t.label_names:
        if "=" not in pair:
            raise UsageError(f"text.label_names: want raw=name pairs, got {pair!r}")


def text_tokenizer(cfg: Config):
    """The tokenizer a task uses: chars for chars and dates, words otherwise."""
    task = cfg.preprocess.task
    if task == "dates":
        return CharTokenizer(lowercase=True)  # the generated inputs are lower case
    return (CharTokenizer if task == "chars" else WordTokenizer)(lowercase=cfg.text.lowercase)


def assign_splits(sources: list[str], cfg: Config) -> list[str]:
    """"train", "val" or "test" for each piece (given the file it came from), seeded.

    split "random": test_fraction of all pieces are test, val_fraction validation.
    split "files": pieces of a file whose name holds "test" are the test set; those of a file
    whose name holds "dev" are the validation set (an official split); the others are split into
    train and validation by val_fraction when no file is "dev".
    """
    n = len(sources)
    rng = np.random.default_rng(cfg.data.seed)
    split = np.array(["train"] * n, dtype=object)
    val_fraction = cfg.data.val_fraction
    if cfg.text.split == "files":
        names = [Path(s).name.lower() for s in sources]
        is_test = np.array(["test" in name for name in names])
        if not is_test.any():
            raise UsageError("text.split = 'files': no source has 'test' in its name")
        is_dev = np.array(["dev" in name for name in names]) & ~is_test
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


def _read_pieces(cfg: Config, files: list[Path], log: Callable[[str], None]):
    """-> (texts or token lists, per-piece dicts, manifest rows) for the task."""
    task, tokenizer = cfg.preprocess.task, text_tokenizer(cfg)
    token_lists, pieces, kept, skipped = [], [], [], []
    renames = dict(pair.split("=", 1) for pair in cfg.text.label_names)
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
        before = len(pieces)
        if task in ("chars", "words"):
            units = split_lines(f.text) if cfg.text.unit == "line" else split_blocks(f.text)
            for unit in units:
                token_lists.append(tokenizer.encode(unit))
                pieces.append({"source": str(path)})
        elif task == "classify":
            rows, bad = parse_labelled(f.text)
            if bad:
                log(f"warning: {path}: {bad} lines without sentence<TAB>label skipped")
            for sentence, label in rows:
                tokens = tokenizer.encode(sentence)
                if tokens:
                    token_lists.append(tokens)
                    pieces.append({"source": str(path), "label": renames.get(label, label)})
        elif task == "tag":
            try:
                sentences = parse_tagged(f.text)
            except ValueError as e:
                raise InputError(path, "not a tagged file", str(e)) from None
            for tokens, tags in sentences:
                token_lists.append([t.lower() if cfg.text.lowercase else t for t in tokens])
                pieces.append({"source": str(path), "tags": tags, "words": tokens})  # spelled
        elif task == "dates":
            for line in f.text.split("\n"):
                source, tab, target = line.rpartition("\t")
                if tab and source.strip() and target.strip():
                    token_lists.append(tokenizer.encode(source.strip()))
                    pieces.append({"source": str(path), "target": target.strip()})
        n = len(pieces) - before
        if n == 0:
            reason = {"classify": "no labelled lines", "tag": "no tagged sentences",
                      "dates": "no source<TAB>target lines"}.get(task, "no text")
            if len(files) == 1:
                raise InputError(path, reason)
            skipped.append({"file": str(path), "reason": reason, "detail": ""})
            continue
        kept.append({"file": str(path), "pieces": n, "encoding": f.encoding,
                     "replaced_bytes": f.replaced})
    return token_lists, pieces, kept, skipped


def preprocess_text(cfg: Config, log: Callable[[str], None] = print) -> dict:
    """Run the stage for a text task; returns a summary dict.

    `cfg.preprocess.sources` are text files or folders (for dates they may be empty: the pairs
    are then generated from `data.seed`).

    Raises:
        UsageError: bad settings, a missing source or output.
        InputError: the only file given is empty, not text, or holds nothing for the task.
    """
    check_text_config(cfg)
    p, task = cfg.preprocess, cfg.preprocess.task
    if not p.output:
        raise UsageError("preprocess: give the corpus directory with -o")
    out = directory_path(p.output)
    t0 = time.perf_counter()
    tokenizer = text_tokenizer(cfg)
    if task == "dates" and not p.sources:
        pairs = date_pairs(cfg.text.dates, cfg.data.seed)
        token_lists = [tokenizer.encode(s) for s, _ in pairs]
        pieces = [{"source": "generated", "target": t} for _, t in pairs]
        kept, skipped = [{"file": f"generated (seed {cfg.data.seed})", "pieces": len(pairs)}], []
    else:
        if not p.sources:
            raise UsageError("preprocess: give at least one text FILE")
        token_lists, pieces, kept, skipped = _read_pieces(cfg, input_files(p.sources), log)
    if not pieces:
        raise InputError(", ".join(p.sources), "no usable text")

    extra: dict = {"text": {"unit": cfg.text.unit}}
    if task in ("classify", "tag", "dates"):
        splits = assign_splits([piece["source"] for piece in pieces], cfg)
        for piece, split in zip(pieces, splits, strict=True):
            piece["split"] = split
        train_tokens = [t for tokens, s in zip(token_lists, splits, strict=True) if s == "train"
                        for t in tokens]
        if task == "dates":  # a closed character set: the targets' characters must have ids too
            train_tokens += [c for piece in pieces for c in piece["target"]]
        shapes = cfg.text.unknown == "shape" and task in ("classify", "tag")
        if shapes:  # rare training words teach the model their shape classes
            counts = Counter(train_tokens)
            frequent = {t for t, n in counts.items() if n >= cfg.text.min_count}
            train_tokens = map_unknown(train_tokens, frequent, True)
            token_lists = [map_unknown(tokens, frequent, True) for tokens in token_lists]
            extra["text"]["unknown"] = "shape"
        vocab = Vocab.from_tokens(train_tokens, min_count=1 if shapes else cfg.text.min_count)
        if task == "classify":
            extra["labels"] = sorted({piece["label"] for piece in pieces})
        elif task == "tag":
            extra["labels"] = sorted({tag for piece in pieces for tag in piece["tags"]})
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
