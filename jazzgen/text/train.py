"""Training the text tasks the generic stage does not: classify, tag, dates, and numpy LMs.

`jazzgen.stages.train` trains chars/words language models with Keras itself (they are the same
next-value model as the jazz one) and hands everything else here:

    classify  many-to-one: the word ids of a sentence -> its label          (head "classify")
    tag       many-to-many: one tag per word, any depth, bidirectional      (head "tag")
    dates     encoder-decoder, Tx != Ty, teacher forcing                    (core/seq2seq.py)
    chars/words with text.backend = "numpy": the numpy reference RNN        (numpy_lm.py)

Every path writes the same run directory as the stage (config, vocab, task, run.json,
export.npz, checkpoint.npz, history.csv) through the same compiled loop (`core.training.fit`),
except the numpy one, which has its own loop with the same checkpoint and history files.
Label ids start at 1: id 0 is padding in every target array, which the loss masks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jazzgen.config import Config
from jazzgen.core.corpus import Corpus, make_windows, split_pieces
from jazzgen.core.files import atomic_open, read_json, write_json
from jazzgen.core.vocab import BOS, EOS
from jazzgen.errors import UsageError
from jazzgen.stages.rundir import RUN_FORMAT, directory_path, finish_run, library_versions

HEADS = {"classify": "classify", "tag": "tag"}


def needs_text_loop(task: str, cfg: Config) -> bool:
    """True when the generic next-value stage cannot train this task/backend."""
    return task in ("classify", "tag", "dates") or cfg.text.backend == "numpy"


def piece_splits(corpus: Corpus) -> dict[str, list[int]]:
    """Piece indices per split as drawn at preprocess ("train", "val", "test")."""
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for i, piece in enumerate(corpus.pieces):
        out[piece.get("split", "train")].append(i)
    return out


def _check(cfg: Config, task: str) -> None:
    t, m = cfg.train, cfg.model
    for name, value in (("train.epochs", t.epochs), ("train.batch_size", t.batch_size),
                        ("data.seq_len", cfg.data.seq_len), ("model.units", m.units)):
        if value <= 0:
            raise UsageError(f"{name} must be > 0 (got {value})")
    if t.learning_rate <= 0 or t.clip_norm <= 0:
        raise UsageError("train.learning_rate and train.clip_norm must be > 0")
    if cfg.text.backend not in ("keras", "numpy"):
        raise UsageError(f"text.backend must be 'keras' or 'numpy' (got {cfg.text.backend!r})")
    if cfg.text.backend == "numpy" and (task not in ("chars", "words") or m.layers != 1):
        raise UsageError("text.backend = 'numpy' trains one-layer chars/words models "
                         "(set model.layers = 1)")
    if task in HEADS and m.head != HEADS[task]:
        raise UsageError(f"a {task} run needs model.head = '{HEADS[task]}' (got '{m.head}')")
    if task in ("chars", "words") and m.head != "next":
        raise UsageError(f"a {task} language model needs model.head = 'next'")
    if task == "dates" and m.layers != 1:
        raise UsageError("the dates encoder-decoder has one layer each side (model.layers = 1)")


def _open_run_dir(corpus: Corpus, run_dir: Path, cfg: Config, resume: bool) -> None:
    directory_path(run_dir)
    if (run_dir / "run.json").is_file():
        info = read_json(run_dir / "run.json")
        if not resume:
            raise UsageError(f"{run_dir}: already holds a run; add --resume to continue it "
                             "or pick another -o")
        if info.get("corpus_hash") != corpus.hash:
            raise UsageError(f"{run_dir}: was trained on another corpus; cannot resume")
        if read_json(run_dir / "config.json").get("model") != cfg.to_dict()["model"]:
            raise UsageError(f"{run_dir}: model settings differ from the saved run; cannot resume")
    run_dir.mkdir(parents=True, exist_ok=True)


def _write_run_files(corpus: Corpus, run_dir: Path, cfg: Config, splits: dict[str, list[int]],
                     task_info: dict) -> None:
    write_json(run_dir / "config.json", cfg.to_dict())
    with atomic_open(run_dir / "vocab.json", "w", encoding="utf-8") as f:
        f.write(corpus.vocab.to_json())
    write_json(run_dir / "task.json", {"task": corpus.task, "tokenizer": corpus.info["tokenizer"],
                                       **task_info})
    write_json(run_dir / "run.json", {
        "format": RUN_FORMAT, "seed": cfg.train.seed, "versions": library_versions(),
        "corpus": str(corpus.path), "corpus_hash": corpus.hash, "vocab_hash": corpus.vocab.hash,
        **{f"{name}_pieces": [int(i) for i in idx] for name, idx in splits.items()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    })


def label_windows(corpus: Corpus, indices: list[int], task: str, labels: list[str],
                  seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Padded id windows and their label ids (1-based; 0 = padding).

    classify: each sentence's first seq_len ids -> x (N, T), y (N,).
    tag: each sentence cut into consecutive chunks of seq_len -> x (N, T), y (N, T).
    """
    index = {label: i + 1 for i, label in enumerate(labels)}
    xs, ys = [], []
    for i in indices:
        ids = np.asarray(corpus.piece_ids(i))
        if task == "classify":
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
        shape = (0,) if task == "classify" else (0, seq_len)
        return np.zeros((0, seq_len), np.int32), np.zeros(shape, np.int32)
    return np.stack(xs), np.asarray(ys, np.int32)


def date_arrays(corpus: Corpus, indices: list[int], src_len: int, tgt_len: int):
    """Packed teacher-forcing arrays for the encoder-decoder (see `seq2seq.pack_pairs`)."""
    from jazzgen.core.seq2seq import pack_pairs

    v = corpus.vocab
    sources = [corpus.piece_ids(i) for i in indices]
    targets = [v.encode(list(corpus.pieces[i]["target"])) for i in indices]
    return pack_pairs(sources, targets, src_len, tgt_len, v.id(BOS), v.id(EOS))


def train_text(corpus: Corpus, run_dir: str | Path, cfg: Config, resume: bool = False,
               log: Callable[[str], None] = print):
    """Train a text task on an opened corpus; returns the TrainResult. Writes the run dir.

    Raises:
        UsageError: settings the task cannot use, or a run directory that is not resumable.
    """
    from jazzgen.core.training import fit

    task = corpus.task
    _check(cfg, task)
    run_dir = Path(run_dir)
    _open_run_dir(corpus, run_dir, cfg, resume)
    t, v = cfg.train, corpus.vocab
    common = dict(epochs=t.epochs, batch_size=t.batch_size, learning_rate=t.learning_rate,
                  clip_norm=t.clip_norm, patience=t.patience, seed=t.seed,
                  max_minutes=t.max_minutes, resume=resume, log=log)

    if task in ("chars", "words"):  # the numpy reference backend
        from jazzgen.text.numpy_lm import fit_numpy

        train_idx, val_idx = split_pieces(len(corpus), cfg.data.val_fraction, cfg.data.seed)
        splits = {"train": list(train_idx), "val": list(val_idx)}
        bos, eos, seq_len = v.id(BOS), v.id(EOS), cfg.data.seq_len
        train_xy = make_windows(corpus, train_idx, seq_len, cfg.data.stride, bos, eos)
        val_xy = make_windows(corpus, val_idx, seq_len, seq_len, bos, eos)
        _write_run_files(corpus, run_dir, cfg, splits, {"backend": "numpy"})
        log(f"corpus {corpus.path}: {len(train_idx)} train / {len(val_idx)} validation pieces, "
            f"{len(train_xy[0])} windows of {cfg.data.seq_len}, vocabulary {len(v)}; numpy "
            f"{cfg.model.cell} of {cfg.model.units} units, one-hot input")
        result = fit_numpy(cfg.model, len(v), train_xy, val_xy, run_dir, **common)
        finish_run(run_dir, result, log)
        return result

    splits = piece_splits(corpus)
    if not splits["train"]:
        raise UsageError(f"{corpus.path}: no training pieces")
    build, num_outputs, task_info, select = None, None, {}, None
    if task == "dates":
        from jazzgen.core.seq2seq import build_seq2seq, save_seq2seq

        src_len = int(max(np.diff(corpus.offsets)))
        tgt_len = max(len(p["target"]) for p in corpus.pieces) + 1          # + <eos>
        task_info = {"src_len": src_len, "tgt_len": tgt_len, "attention": cfg.text.attention}
        arrays = {name: date_arrays(corpus, idx, src_len, tgt_len) for name, idx in splits.items()}

        def build():
            return build_seq2seq(cfg.model, len(v), src_len, tgt_len, cfg.text.attention)

        def on_best(models) -> None:
            save_seq2seq(run_dir / "export.npz", models, cfg.model, len(v), cfg.text.attention)
        shape = f"encoder-decoder ({cfg.model.cell} {cfg.model.units}, Tx {src_len}, Ty {tgt_len}" \
                f"{', attention' if cfg.text.attention else ''})"
    elif task == "tag" and cfg.text.char_features != "none":  # text/char_tagger.py
        from jazzgen.text.char_tagger import setup_char_tagger

        arrays, build, on_best, task_info, shape, select = setup_char_tagger(corpus, splits, cfg,
                                                                            run_dir)
        common["batch_size"] = 1  # each row is a batch of sentences of similar length
    else:
        from jazzgen.core.models import export_weights, save_export

        labels = corpus.info["labels"]
        num_outputs = len(labels) + 1                                      # id 0: padding
        task_info = {"labels": labels, "unknown": corpus.info.get("text", {}).get("unknown", "unk")}
        arrays = {name: label_windows(corpus, idx, task, labels, cfg.data.seq_len)
                  for name, idx in splits.items()}

        def on_best(models) -> None:
            weights = export_weights(models, cfg.model)
            save_export(run_dir / "export.npz", cfg.model, len(v), weights)
        shape = (f"{'bidirectional ' if cfg.model.bidirectional else ''}{cfg.model.layers}-layer "
                 f"{cfg.model.cell} {cfg.model.units}, {len(labels)} labels")

    _write_run_files(corpus, run_dir, cfg, splits, task_info)
    log(f"corpus {corpus.path}: {task}, {len(splits['train'])} train / {len(splits['val'])} "
        f"validation / {len(splits['test'])} test pieces, vocabulary {len(v)}; {shape}")
    result = fit(cfg.model, len(v), arrays["train"], arrays["val"], run_dir,
                 on_best=on_best, num_outputs=num_outputs, build=build, threads=t.threads or None, select=select,
                 **common)
    finish_run(run_dir, result, log)
    return result
