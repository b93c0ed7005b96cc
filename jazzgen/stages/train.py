"""`jazzgen train CORPUS_DIR -o RUN_DIR`: fit the shared-layer model and write a run directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jazzgen.config import Config
from jazzgen.core.corpus import make_windows, read_corpus, split_pieces
from jazzgen.core.distributed import prepare, worker_run_dir
from jazzgen.core.files import atomic_open, read_json, write_json
from jazzgen.core.shards import has_shards
from jazzgen.core.vocab import BOS, EOS
from jazzgen.errors import UsageError
from jazzgen.stages.rundir import RUN_FORMAT, directory_path, finish_run, library_versions

MAX_CHANGES = 64  # corpus pieces whose changes the run keeps for default generation


def _check_config(cfg: Config) -> None:
    t, d = cfg.train, cfg.data
    for name, value in (("train.epochs", t.epochs), ("train.batch_size", t.batch_size),
                        ("data.seq_len", d.seq_len), ("data.stride", d.stride),
                        ("model.units", cfg.model.units), ("model.layers", cfg.model.layers)):
        if value <= 0:
            raise UsageError(f"{name} must be > 0 (got {value})")
    if not 0 <= d.val_fraction < 1:
        raise UsageError(f"data.val_fraction must be in [0, 1) (got {d.val_fraction})")
    if t.learning_rate <= 0 or t.clip_norm <= 0:
        raise UsageError("train.learning_rate and train.clip_norm must be > 0")
    if cfg.model.head != "next" or cfg.model.bidirectional:
        raise UsageError("the jazz task trains a unidirectional next-value model (model.head = 'next')")


def train(corpus_dir: str | Path, run_dir: str | Path, cfg: Config, resume: bool = False,
          log: Callable[[str], None] = print, source: str | None = None):
    """Train on a corpus directory; returns the TrainResult. The run dir is written as it goes.

    `source` ("default" or a run directory) fine-tunes that model instead of starting afresh
    (jazz corpora; see `jazzgen.stages.finetune`).
    """
    from jazzgen.core.models import export_weights, save_export
    from jazzgen.core.training import fit

    corpus = read_corpus(corpus_dir)
    if corpus.task != "jazz":  # text: language models train below; the other tasks in jazzgen.text
        from jazzgen.text.train import needs_text_loop, train_text

        if source:
            raise UsageError(f"--from: fine-tuning is for jazz corpora, {corpus.path} is a {corpus.task} corpus")

        if needs_text_loop(corpus.task, cfg):
            return train_text(corpus, run_dir, cfg, resume=resume, log=log)
    _check_config(cfg)
    run_dir = worker_run_dir(run_dir, cfg.train.strategy)  # multi-worker task K>0: RUN_DIR.worker-K
    directory_path(run_dir)
    from jazzgen.stages.finetune import prepare as prepare_finetune

    corpus, cfg, start, source_record = prepare_finetune(corpus, run_dir, cfg, source, resume, log)
    from jazzgen.stages.owndata import apply_size_defaults, check_trainable, corpus_report

    chosen = {}
    if corpus.task == "jazz":  # own-data diagnostics and settings chosen from the corpus size
        check_trainable(corpus.path, corpus.pieces)
        lines, warnings = corpus_report(corpus.pieces, np.diff(corpus.offsets), cfg.data.seq_len,
                                        finetune=bool(source_record))
        for line in lines + [f"warning: {w}" for w in warnings]:
            log(line)
        cfg, chosen = apply_size_defaults(cfg, int(corpus.info["tokens"]), bool(source_record), log)
    existing = run_dir / "run.json"
    if existing.is_file():
        info = read_json(existing)
        if not resume:
            raise UsageError(f"{run_dir}: already holds a run; add --resume to continue it or pick another -o")
        if info.get("corpus_hash") != corpus.hash:
            raise UsageError(f"{run_dir}: was trained on another corpus (hash {info.get('corpus_hash')}, "
                             f"this one {corpus.hash}); cannot resume")
        if info.get("vocab_hash") != corpus.vocab.hash:
            raise UsageError(f"{run_dir}: vocabulary differs from {corpus_dir}; cannot resume")
        saved = read_json(run_dir / "config.json")
        if saved.get("model") != cfg.to_dict()["model"]:
            raise UsageError(f"{run_dir}: model settings differ from the saved run; cannot resume")
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.glob(".*.tmp"):  # a run killed mid-write leaves its temporary file behind
        stale.unlink()

    # A corpus holding each song in 12 keys is split by song, so no key of a held-out song trains.
    songs = ([p["source"] for p in corpus.pieces]
             if any("transpose" in p for p in corpus.pieces) else None)
    train_idx, val_idx = split_pieces(len(corpus), cfg.data.val_fraction, cfg.data.seed, groups=songs)
    bos, eos = corpus.vocab.id(BOS), corpus.vocab.id(EOS)
    if cfg.train.strategy == "default" and not has_shards(corpus.path):
        train_xy = make_windows(corpus, train_idx, cfg.data.seq_len, cfg.data.stride, bos, eos)
        val_xy = make_windows(corpus, val_idx, cfg.data.seq_len, cfg.data.seq_len, bos, eos)
        n_windows = train_xy[0].shape[0]
    else:  # windows streamed from shards and/or tf.distribute: see core/distributed.py
        train_xy, val_xy, fit = prepare(corpus, train_idx, val_idx, cfg)
        n_windows = train_xy.count
    log(f"corpus {corpus.path}: {len(corpus)} pieces ({len(train_idx)} train, {len(val_idx)} validation), "
        f"{n_windows} training windows of {cfg.data.seq_len} values, vocabulary {len(corpus.vocab)}")

    write_json(run_dir / "config.json", cfg.to_dict())
    with atomic_open(run_dir / "vocab.json", "w", encoding="utf-8") as f:
        f.write(corpus.vocab.to_json())
    write_json(run_dir / "task.json", {"task": corpus.task, "tokenizer": corpus.info["tokenizer"]})
    write_json(run_dir / "run.json", {
        "format": RUN_FORMAT, "seed": cfg.train.seed, "versions": library_versions(),
        "corpus": str(corpus.path), "corpus_hash": corpus.hash, "vocab_hash": corpus.vocab.hash,
        "train_pieces": [int(i) for i in train_idx], "val_pieces": [int(i) for i in val_idx],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), **({"source": source_record} if source_record else {}),
        **({"size_defaults": chosen} if chosen else {}),
    })
    if corpus.task == "jazz":
        from jazzgen.music.pipeline import has_changes

        # Validation pieces first: default generation plays over changes the model did not train on.
        order = [int(i) for i in val_idx] + [int(i) for i in train_idx]
        changes = [{k: corpus.pieces[i][k] for k in ("source", "chords", "time_signature", "tempo_qpm")}
                   for i in order if has_changes(corpus.pieces[i]) and not corpus.pieces[i].get("transpose")
                   ][:MAX_CHANGES]
        write_json(run_dir / "changes.json", changes)

    def on_best(models) -> None:
        save_export(run_dir / "export.npz", cfg.model, len(corpus.vocab), export_weights(models, cfg.model))

    t = cfg.train
    result = fit(cfg.model, len(corpus.vocab), train_xy, val_xy, run_dir, epochs=t.epochs,
                 batch_size=t.batch_size, learning_rate=t.learning_rate, clip_norm=t.clip_norm,
                 patience=t.patience, seed=t.seed, max_minutes=t.max_minutes,
                 checkpoint_every_s=t.checkpoint_every_s, resume=resume,
                 on_best=on_best, log=log, threads=t.threads or None,
                 build=(lambda: start.build(cfg.model)) if start else None)
    finish_run(run_dir, result, log)
    return result
