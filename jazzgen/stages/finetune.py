"""`jazzgen train CORPUS -o RUN --from default|RUN_DIR`: start from a trained model.

The run's vocabulary is the source's followed by the corpus's new tokens (`Vocab.union`), the
model keeps the source's shape and starts from its weights grown to that vocabulary
(`core.finetune.grow_weights`), and run.json records the source under "source":

    {"spec": "default" | path given, "path": resolved run dir, "vocab_hash", "export_sha256",
     "vocab_size", "new_tokens"}

`resume`, `generate` and the numpy engine need nothing else: the run directory holds the whole
model. `evaluate` rebuilds the starting model from the source (when it is still there and
unchanged) to report the source's zero-shot figure beside the run's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from jazzgen.config import Config
from jazzgen.core.corpus import Corpus, read_vocab
from jazzgen.core.files import read_json
from jazzgen.core.finetune import file_sha256, grow_weights, reindex_corpus
from jazzgen.core.models import ModelConfig, load_export
from jazzgen.core.rundir import Run, open_run
from jazzgen.core.vocab import SPECIALS, Vocab
from jazzgen.errors import UsageError
from jazzgen.tasks import default_run_dir

DEFAULT = "default"  # --from default: the bundled model


@dataclass
class Start:
    """Where a fine-tuning run starts: its vocabulary, model shape and first weights."""

    vocab: Vocab                      # source tokens (same ids), then the corpus's new ones
    model: ModelConfig                # the source's shape
    weights: dict[str, np.ndarray]    # export layout, grown to `vocab`
    record: dict                      # run.json's "source"

    def build(self, cfg: ModelConfig):
        """Models of shape `cfg` (the source's, dropout may differ) holding the grown weights."""
        from jazzgen.core.gates import gates_from_weights
        from jazzgen.core.models import build_models, import_weights

        models = build_models(cfg, len(self.vocab), gates=gates_from_weights(self.weights))
        import_weights(models, cfg, self.weights)
        return models


def open_source(spec: str, warn: Callable[[str], None] = lambda m: None) -> Run:
    """The run named by --from: "default" (the bundled model) or a run directory."""
    if spec == DEFAULT:
        return open_run(default_run_dir(), warn=warn)
    try:
        return open_run(spec, warn=warn)
    except UsageError as e:
        raise UsageError(f"--from {spec}: {e}") from e


def tokenizer_differences(corpus_tokenizer: dict, source_tokenizer: dict) -> list[str]:
    """`key: corpus X, source Y` for every tokenizer setting that differs."""
    keys = sorted(set(corpus_tokenizer) | set(source_tokenizer))
    return [f"{k}: corpus {corpus_tokenizer.get(k, '-')}, source {source_tokenizer.get(k, '-')}"
            for k in keys if corpus_tokenizer.get(k) != source_tokenizer.get(k)]


def check_compatible(corpus: Corpus, source: Run, spec: str) -> None:
    """UsageError (one line, naming what differs) unless `corpus` can fine-tune `source`."""
    task = source.task.get("task")
    if corpus.task != task:
        raise UsageError(f"--from {spec}: the source is a {task} model, {corpus.path} a {corpus.task} corpus")
    if source.config.model.head != "next" or source.config.model.bidirectional:
        raise UsageError(f"--from {spec}: only a next-value model can be fine-tuned")
    diff = tokenizer_differences(corpus.info.get("tokenizer", {}), source.task.get("tokenizer", {}))
    if diff:
        raise UsageError(f"--from {spec}: tokenizer settings differ ({'; '.join(diff)}); "
                         "preprocess the corpus with the source's settings")


def start_from(spec: str, corpus: Corpus, log: Callable[[str], None] = print) -> Start:
    """Open the source named by `spec`, check it fits `corpus`, and grow it to the union vocabulary."""
    source = open_source(spec, warn=log)
    check_compatible(corpus, source, spec)
    vocab = source.vocab.union(corpus.vocab)
    exported = load_export(source.export_path)
    weights = grow_weights(exported.weights, exported.cfg, source.vocab, vocab)
    new = len(vocab) - len(source.vocab)
    record = {"spec": spec, "path": str(source.path.resolve()), "vocab_hash": source.vocab.hash,
              "vocab_size": len(source.vocab), "export_sha256": file_sha256(source.export_path),
              "new_tokens": new}
    known = sum(1 for t in corpus.vocab.tokens[len(SPECIALS):] if t in source.vocab)
    log(f"fine-tuning from {'the bundled model' if spec == DEFAULT else source.path} "
        f"({exported.cfg.cell} {exported.cfg.units} units, vocabulary {len(source.vocab)}): "
        f"{known} of the corpus's {len(corpus.vocab) - len(SPECIALS)} values known, {new} new get fresh rows "
        f"-> vocabulary {len(vocab)}")
    return Start(vocab, exported.cfg, weights, record)


def prepare(corpus: Corpus, run_dir: Path, cfg: Config, source: str | None, resume: bool,
            log: Callable[[str], None] = print) -> tuple[Corpus, Config, Start | None, dict | None]:
    """The corpus (ids in the run's vocabulary), config, start and source record of a training run.

    Without --from and without a fine-tuned run to resume, everything is returned unchanged.
    Resuming a fine-tuned run reads its vocabulary and model shape from the run directory; its
    start weights are rebuilt from the recorded source only when no checkpoint exists yet.
    """
    from jazzgen.core.shards import has_shards

    info_path = run_dir / "run.json"
    record = read_json(info_path).get("source") if resume and info_path.is_file() else None
    if record:  # resume a fine-tuned run: the run directory is the truth
        vocab = read_vocab(run_dir / "vocab.json")
        saved = ModelConfig.from_dict(read_json(run_dir / "config.json")["model"])
        start = None
        if not (run_dir / "checkpoint.npz").is_file():
            start = start_from(record["spec"], corpus, log)
            if start.vocab != vocab:
                raise UsageError(f"{run_dir}: its source {record['spec']} changed since the run "
                                 "started; start a new run")
        data = replace(cfg.data, condition=bool(saved.condition_dim))
        return reindex_corpus(corpus, vocab), replace(cfg, model=saved, data=data), start, record
    if not source:
        return corpus, cfg, None, None
    if has_shards(corpus.path) or cfg.train.strategy != "default":
        raise UsageError("--from: fine-tuning reads the corpus's ids.npy on one device "
                         "(no shards, train.strategy = default)")
    if resume and info_path.is_file():
        raise UsageError(f"{run_dir}: was not fine-tuned; resume it without --from")
    start = start_from(source, corpus, log)
    model = replace(start.model, dropout=cfg.model.dropout)  # the source's shape, this run's dropout
    # A source told the beat and harmony at every step (data.condition) keeps being told them.
    data = replace(cfg.data, condition=bool(model.condition_dim))
    return reindex_corpus(corpus, start.vocab), replace(cfg, model=model, data=data), start, start.record
