"""What a task asks of training (`TrainingPlan`) and the one function that carries it out.

A task never calls a training loop itself: it says which pieces train and validate, whether the
model learns next values on windows of them (language models, jazz) or fixed arrays (a label
per sentence, per word, an encoder-decoder target), which heads to build and how to export the
best weights. `fit_plan` picks the windows (in memory, or streamed from shards), the strategy
and the backend, so every task gets the same checkpoints, resume, interrupt and history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jazzgen.config import Config
from jazzgen.core.corpus import Corpus, make_windows
from jazzgen.core.vocab import BOS, EOS
from jazzgen.errors import UsageError


@dataclass
class TrainingPlan:
    """One task's training, as data.

    Attributes:
        splits: piece indices per split ("train", "val", optionally "test"), kept in run.json.
        describe: the corpus line logged before training, given the number of training examples.
        task_info: extra entries of task.json (labels, lengths ...) that inference needs.
        arrays: None = next-value windows of `data.seq_len` over the train/val pieces (shards
            and tf.distribute strategies apply); else {"train": (x, y), "val": (x, y)} arrays.
        build: builds the Keras models (None: `core.models.build_models` for the config).
        num_outputs: classes of the output head (None: the vocabulary).
        export: writes the best weights, `export(models, path)` (None: `save_export` layout).
        backend: "keras", or "numpy" for the numpy reference trainer (windows, one layer).
        run_files: extra JSON files for the run directory, {file name: JSON-able data}.
        batch_size: overrides `train.batch_size` (1 when each array row is a whole batch).
        select: a validation score of the models, higher is better, that picks the best epoch
            instead of the validation loss (see `core.training.fit`).
        sums: `sums(models)` -> the batch loss function replacing the masked cross-entropy
            (see `core.training.build_step_functions`).
        finish: called with the run directory once training has ended (its export written);
            returns entries for run.json (e.g. a calibration of the exported weights).
    """

    splits: dict[str, list[int]]
    describe: Callable[[int], str]
    task_info: dict = field(default_factory=dict)
    arrays: dict | None = None
    build: Callable[[], object] | None = None
    num_outputs: int | None = None
    export: Callable[[object, Path], None] | None = None
    backend: str = "keras"
    run_files: dict[str, object] = field(default_factory=dict)
    batch_size: int | None = None
    select: Callable[[object], float] | None = None
    sums: Callable[[object], object] | None = None
    finish: Callable[[Path], dict] | None = None


def check_train_config(cfg: Config) -> None:
    """Settings no task can train with, named."""
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
    if not 0 < t.lr_decay <= 1:
        raise UsageError(f"train.lr_decay must be in (0, 1] (got {t.lr_decay})")


def _default_export(cfg: Config, vocab_size: int) -> Callable[[object, Path], None]:
    def export(models, path: Path) -> None:
        from jazzgen.core.models import export_weights, save_export

        save_export(path, cfg.model, vocab_size, export_weights(models, cfg.model))
    return export


def fit_plan(plan: TrainingPlan, corpus: Corpus, run_dir: Path, cfg: Config, resume: bool,
             log: Callable[[str], None] = print):
    """Train as `plan` says; writes checkpoint.npz, history.csv and export.npz in `run_dir`.

    Returns:
        the loop's `TrainResult`.
    """
    from jazzgen.core.shards import has_shards

    t, d = cfg.train, cfg.data
    vocab_size = len(corpus.vocab)
    common = dict(epochs=t.epochs, batch_size=t.batch_size, learning_rate=t.learning_rate,
                  clip_norm=t.clip_norm, patience=t.patience, seed=t.seed,
                  max_minutes=t.max_minutes, resume=resume, log=log)
    if t.lr_decay != 1 and (plan.backend == "numpy" or t.strategy != "default" or has_shards(corpus.path)):
        raise UsageError("train.lr_decay works with the Keras backend on one device from an unsharded corpus")
    if plan.backend == "numpy":
        if t.strategy != "default":
            raise UsageError(f"--strategy (train.strategy = {t.strategy!r}) does not apply to the "
                             "numpy backend (text.backend = 'numpy')")
        from jazzgen.core.numpy_lm import fit_numpy

        bos, eos = corpus.vocab.id(BOS), corpus.vocab.id(EOS)
        train_xy = make_windows(corpus, plan.splits["train"], d.seq_len, d.stride, bos, eos)
        val_xy = make_windows(corpus, plan.splits["val"], d.seq_len, d.seq_len, bos, eos)
        log(plan.describe(len(train_xy[0])))
        return fit_numpy(cfg.model, vocab_size, train_xy, val_xy, run_dir,
                         checkpoint_every_s=t.checkpoint_every_s, **common)

    from jazzgen.core.training import fit

    fit_fn = fit
    if plan.arrays is not None:
        if t.strategy != "default":
            raise UsageError(f"--strategy (train.strategy = {t.strategy!r}) does not apply to the "
                             f"{corpus.task} task: it trains on one device")
        train_xy, val_xy = plan.arrays["train"], plan.arrays["val"]
        n_examples = len(train_xy[0])
    elif t.strategy == "default" and not has_shards(corpus.path):
        bos, eos = corpus.vocab.id(BOS), corpus.vocab.id(EOS)
        train_xy = make_windows(corpus, plan.splits["train"], d.seq_len, d.stride, bos, eos)
        val_xy = make_windows(corpus, plan.splits["val"], d.seq_len, d.seq_len, bos, eos)
        n_examples = train_xy[0].shape[0]
    else:  # windows streamed from shards and/or tf.distribute: see core/distributed.py
        from jazzgen.core.distributed import prepare

        train_xy, val_xy, fit_fn = prepare(corpus, plan.splits["train"], plan.splits["val"], cfg)
        n_examples = train_xy.count
    log(plan.describe(n_examples))
    export = plan.export or _default_export(cfg, vocab_size)
    extra = {}
    if plan.num_outputs is not None:
        extra["num_outputs"] = plan.num_outputs
    if plan.build is not None:
        extra["build"] = plan.build
    if plan.select is not None:
        extra["select"] = plan.select
    if plan.sums is not None:
        extra["sums"] = plan.sums
    if plan.batch_size is not None:
        common["batch_size"] = plan.batch_size
    if t.lr_decay != 1:
        extra["lr_decay"] = t.lr_decay
    return fit_fn(cfg.model, vocab_size, train_xy, val_xy, run_dir,
                  checkpoint_every_s=t.checkpoint_every_s,
                  on_best=lambda models: export(models, run_dir / "export.npz"),
                  threads=t.threads or None, **extra, **common)
