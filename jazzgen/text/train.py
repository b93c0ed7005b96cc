"""Training plans of the text tasks: what each trains on, with which head, and how it exports.

The generic `train` stage runs every plan through the same loop (`core.plan.fit_plan`):

    chars, words  next-value windows over the pieces, like the jazz task (head "next"); with
                  text.backend = "numpy", the numpy reference RNN (`core/numpy_lm.py`)
    classify      many-to-one: the word ids of a sentence -> its label          (head "classify")
    tag           many-to-many: one tag per word, any depth, bidirectional      (head "tag")
    dates         encoder-decoder, Tx != Ty, teacher forcing                    (core/seq2seq.py)

Label ids start at 1: id 0 is padding in every target array, which the loss masks.
"""

from __future__ import annotations

import numpy as np

from jazzgen.config import Config
from jazzgen.core.corpus import Corpus, split_pieces
from jazzgen.core.plan import TrainingPlan
from jazzgen.core.vocab import BOS, EOS
from jazzgen.errors import UsageError


def training_splits(corpus: Corpus) -> dict[str, list[int]]:
    """`piece_splits`, refusing a corpus without training pieces."""
    splits = piece_splits(corpus)
    if not splits["train"]:
        raise UsageError(f"{corpus.path}: no training pieces")
    return splits


def piece_splits(corpus: Corpus) -> dict[str, list[int]]:
    """Piece indices per split as drawn at preprocess ("train", "val", "test")."""
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for i, piece in enumerate(corpus.pieces):
        out[piece.get("split", "train")].append(i)
    return out


def check_text_train(cfg: Config) -> None:
    """Refuse [text] training settings no text task knows, naming the key."""
    if cfg.text.backend not in ("keras", "numpy"):
        raise UsageError(f"text.backend must be 'keras' or 'numpy' (got {cfg.text.backend!r})")


def label_windows(corpus: Corpus, indices: list[int], many_to_one: bool, labels: list[str],
                  seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Padded id windows and their label ids (1-based; 0 = padding).

    classify: each sentence's first seq_len ids -> x (N, T), y (N,).
    tag: each sentence cut into consecutive chunks of seq_len -> x (N, T), y (N, T).
    """
    index = {label: i + 1 for i, label in enumerate(labels)}
    xs, ys = [], []
    for i in indices:
        ids = np.asarray(corpus.piece_ids(i))
        if many_to_one:
            x = np.zeros(seq_len, np.int32)
            x[: min(len(ids), seq_len)] = ids[:seq_len]
            xs.append(x)
            ys.append(index[corpus.pieces[i]["label"]])
            continue
        tags = [index[t] for t in corpus.pieces[i]["tags"]]
        for s in range(0, len(ids), seq_len):
            x, y = np.zeros(seq_len, np.int32), np.zeros(seq_len, np.int32)
            chunk = ids[s: s + seq_len]
            x[: len(chunk)], y[: len(chunk)] = chunk, tags[s: s + seq_len]
            xs.append(x)
            ys.append(y)
    if not xs:
        shape = (0,) if many_to_one else (0, seq_len)
        return np.zeros((0, seq_len), np.int32), np.zeros(shape, np.int32)
    return np.stack(xs), np.asarray(ys, np.int32)


def date_arrays(corpus: Corpus, indices: list[int], src_len: int, tgt_len: int):
    """Packed teacher-forcing arrays for the encoder-decoder (see `seq2seq.pack_pairs`)."""
    from jazzgen.core.seq2seq import pack_pairs

    v = corpus.vocab
    sources = [corpus.piece_ids(i) for i in indices]
    targets = [v.encode(list(corpus.pieces[i]["target"])) for i in indices]
    return pack_pairs(sources, targets, src_len, tgt_len, v.id(BOS), v.id(EOS))


def lm_plan(corpus: Corpus, cfg: Config) -> TrainingPlan:
    """chars/words: next-value windows over a seeded split of the pieces (Keras or numpy)."""
    train_idx, val_idx = split_pieces(len(corpus), cfg.data.val_fraction, cfg.data.seed)
    splits = {"train": [int(i) for i in train_idx], "val": [int(i) for i in val_idx]}
    v, m = corpus.vocab, cfg.model
    if cfg.text.backend == "numpy":
        def describe(n: int) -> str:
            return (f"corpus {corpus.path}: {len(train_idx)} train / {len(val_idx)} validation pieces, "
                    f"{n} windows of {cfg.data.seq_len}, vocabulary {len(v)}; numpy "
                    f"{m.cell} of {m.units} units, one-hot input")
        return TrainingPlan(splits, describe, task_info={"backend": "numpy"}, backend="numpy")

    def describe(n: int) -> str:
        return (f"corpus {corpus.path}: {len(corpus)} pieces ({len(train_idx)} train, {len(val_idx)} "
                f"validation), {n} training windows of {cfg.data.seq_len} values, vocabulary {len(v)}")
    return TrainingPlan(splits, describe)


def label_plan(corpus: Corpus, cfg: Config, many_to_one: bool) -> TrainingPlan:
    """classify (`many_to_one`: a label per sentence) or tag (a label per word): padded id
    windows and their label ids, on the split drawn at preprocess."""
    splits = training_splits(corpus)
    labels = corpus.info["labels"]
    arrays = {name: label_windows(corpus, idx, many_to_one, labels, cfg.data.seq_len)
              for name, idx in splits.items()}
    m = cfg.model
    shape = (f"{'bidirectional ' if m.bidirectional else ''}{m.layers}-layer "
             f"{m.cell} {m.units}, {len(labels)} labels")
    return TrainingPlan(
        splits, describe_plan(corpus, splits, shape),
        task_info={"labels": labels, "unknown": corpus.info.get("text", {}).get("unknown", "unk")},
        arrays=arrays, num_outputs=len(labels) + 1)                       # id 0: padding


def dates_plan(corpus: Corpus, cfg: Config) -> TrainingPlan:
    """dates: packed teacher-forcing arrays for the encoder-decoder, exported with its graphs."""
    from jazzgen.core.seq2seq import build_seq2seq, save_seq2seq

    splits = training_splits(corpus)
    v, m, attention = corpus.vocab, cfg.model, cfg.text.attention
    src_len = int(max(np.diff(corpus.offsets)))
    tgt_len = max(len(p["target"]) for p in corpus.pieces) + 1          # + <eos>
    shape = (f"encoder-decoder ({m.cell} {m.units}, Tx {src_len}, Ty {tgt_len}"
             f"{', attention' if attention else ''})")
    return TrainingPlan(
        splits, describe_plan(corpus, splits, shape),
        task_info={"src_len": src_len, "tgt_len": tgt_len, "attention": attention},
        arrays={name: date_arrays(corpus, idx, src_len, tgt_len) for name, idx in splits.items()},
        build=lambda: build_seq2seq(m, len(v), src_len, tgt_len, attention),
        export=lambda models, path: save_seq2seq(path, models, m, len(v), attention))


def describe_plan(corpus: Corpus, splits: dict[str, list[int]], shape: str):
    def describe(n: int) -> str:
        return (f"corpus {corpus.path}: {corpus.task}, {len(splits['train'])} train / "
                f"{len(splits['val'])} validation / {len(splits['test'])} test pieces, "
                f"vocabulary {len(corpus.vocab)}; {shape}")
    return describe
