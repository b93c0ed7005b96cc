"""The run directory: everything `generate` and `evaluate` need, and nothing else.

    config.json     the resolved config (all sections)
    vocab.json      the vocabulary, checked against the corpus by hash
    task.json       task name and tokenizer settings
    run.json        seed, library versions, corpus hash, split, finished state
    export.npz      best weights, in the layout the numpy engine and Keras both load
    checkpoint.npz  last epoch: weights, optimizer state, loop state (for --resume)
    history.csv     loss, val_loss, accuracy per epoch; curves.png draws it
    changes.json    (written by a task, e.g. the jazz one) anything else generation needs

`start_run` makes or reopens one for training (refusing a resume against another corpus,
vocabulary or model), `open_run` reads one back, `finish_run` records how training ended.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from jazzgen.config import Config
from jazzgen.core.corpus import read_vocab
from jazzgen.core.files import atomic_open, read_json, write_json
from jazzgen.core.vocab import Vocab
from jazzgen.errors import InputError, UsageError

RUN_FORMAT = 1
TRACKED_PACKAGES = ("jazzgen", "numpy", "tensorflow", "tensorflow-cpu", "keras", "music21", "pretty_midi", "mido")


def directory_path(path: str | Path) -> Path:
    """`path` as a Path for a directory to create or reuse; a file standing there is a UsageError."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: exists and is not a directory")
    return path


def library_versions() -> dict[str, str]:
    """Versions of the packages that shape results (absent ones are left out)."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


@dataclass
class Run:
    path: Path
    config: Config
    vocab: Vocab
    task: dict
    info: dict

    @property
    def export_path(self) -> Path:
        return self.path / "export.npz"


def bundled_run_dir() -> Path:
    """The run directory shipped in the package (the default model; `jazzgen run pipelines/wjd.toml`)."""
    return Path(__file__).resolve().parent.parent / "assets" / "default_model"


def read_task(path: str | Path | None) -> dict:
    """The task.json of a run directory ({"task": ..., "tokenizer": {...}}), {} when there is none."""
    if not path or not (Path(path) / "task.json").is_file():
        return {}
    return read_json(Path(path) / "task.json")


def open_run(path: str | Path | None, warn=lambda msg: print(msg, file=sys.stderr)) -> Run:
    """Open a run directory (None: the bundled one) and check it is usable (format, vocabulary
    hash, weights)."""
    path = Path(path) if path else bundled_run_dir()
    if not path.is_dir():
        raise UsageError(f"{path}: no such run directory")
    if not (path / "run.json").is_file():
        raise UsageError(f"{path}: not a run directory (no run.json; train one with `jazzgen train`)")
    info = read_json(path / "run.json", expect=dict)  # damaged or missing files: InputError, named
    if info.get("format") != RUN_FORMAT:
        raise UsageError(f"{path}: run format {info.get('format')}, this jazzgen reads {RUN_FORMAT}")
    vocab = read_vocab(path / "vocab.json")
    if vocab.hash != info.get("vocab_hash"):
        raise InputError(path / "vocab.json", "does not match run.json",
                         f"hash {vocab.hash} != {info.get('vocab_hash')}")
    if not (path / "export.npz").is_file():
        raise UsageError(f"{path}: no trained weights yet (export.npz appears after the first epoch)")
    try:
        config = Config.from_dict(read_json(path / "config.json", expect=dict), origin=str(path / "config.json"))
    except UsageError as e:  # a setting this jazzgen does not know or accept: the file is at fault
        raise InputError(path / "config.json", "damaged run file", str(e)) from e
    task = read_json(path / "task.json", expect=dict)
    if not isinstance(task.get("task"), str):
        raise InputError(path / "task.json", "damaged run file", "no task name")
    now = library_versions()
    then = info.get("versions", {})
    changed = [f"{k} {then[k]} -> {now[k]}" for k in sorted(then) if k in now and now[k] != then[k] and k != "jazzgen"]
    if changed:
        warn(f"warning: {path} was trained with other library versions: {', '.join(changed)}")
    return Run(path, config, vocab, task, info)


def start_run(run_dir: str | Path, corpus, cfg: Config, resume: bool) -> Path:
    """Create the run directory for training, or check that the run in it may be resumed.

    Raises:
        UsageError: a file stands there; a run is there and `resume` is not set; or the run was
            trained on another corpus, vocabulary or model settings.
    """
    run_dir = directory_path(run_dir)
    existing = run_dir / "run.json"
    if existing.is_file():
        info = read_json(existing)
        if not resume:
            raise UsageError(f"{run_dir}: already holds a run; add --resume to continue it or pick another -o")
        if info.get("corpus_hash") != corpus.hash:
            raise UsageError(f"{run_dir}: was trained on another corpus (hash {info.get('corpus_hash')}, "
                             f"this one {corpus.hash}); cannot resume")
        if info.get("vocab_hash") != corpus.vocab.hash:
            raise UsageError(f"{run_dir}: vocabulary differs from {corpus.path}; cannot resume")
        saved = read_json(run_dir / "config.json")
        if saved.get("model") != cfg.to_dict()["model"]:
            raise UsageError(f"{run_dir}: model settings differ from the saved run; cannot resume")
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.glob(".*.tmp"):  # a run killed mid-write leaves its temporary file behind
        stale.unlink()
    return run_dir


def write_run_files(run_dir: Path, corpus, cfg: Config, splits: dict[str, list[int]],
                    task_info: dict | None = None, run_info: dict | None = None) -> None:
    """config.json, vocab.json, task.json and run.json (split recorded as "<name>_pieces").

    `task_info` adds to task.json, `run_info` to run.json (e.g. a fine-tuned run's "source").
    """
    write_json(run_dir / "config.json", cfg.to_dict())
    with atomic_open(run_dir / "vocab.json", "w", encoding="utf-8") as f:
        f.write(corpus.vocab.to_json())
    write_json(run_dir / "task.json", {"task": corpus.task, "tokenizer": corpus.info["tokenizer"],
                                       **(task_info or {})})
    write_json(run_dir / "run.json", {
        "format": RUN_FORMAT, "seed": cfg.train.seed, "versions": library_versions(),
        "corpus": str(corpus.path), "corpus_hash": corpus.hash, "vocab_hash": corpus.vocab.hash,
        **{f"{name}_pieces": [int(i) for i in idx] for name, idx in splits.items()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), **(run_info or {}),
    })


def finish_run(run_dir: Path, result, log, extra: dict | None = None) -> None:
    """Record how training ended in run.json (with `extra` entries), draw curves.png, and say so
    in one line."""
    info = read_json(run_dir / "run.json")
    info.update(extra or {})
    info.update(epochs_done=result.epochs_done, best_epoch=result.best_epoch,
                best_val_loss=result.best_val_loss, stopped_because=result.stopped_because,
                finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    write_json(run_dir / "run.json", info)
    from jazzgen.core.curves import plot_history

    plot_history(run_dir / "history.csv", run_dir / "curves.png")
    validated = any(not math.isnan(row.get("val_loss", math.nan)) for row in result.history)
    best = "best val loss" if validated else "no validation data; best training loss"
    log(f"{result.stopped_because}: {result.epochs_done} epoch{'s' if result.epochs_done != 1 else ''}, "
        f"{best} {result.best_val_loss:.4f} at epoch {result.best_epoch} -> {run_dir}")

