"""The run directory: everything `generate` and `evaluate` need, and nothing else.

    config.json     the resolved config (all sections)
    vocab.json      the vocabulary, checked against the corpus by hash
    task.json       task name and tokenizer settings
    run.json        seed, library versions, corpus hash, split, finished state
    export.npz      best weights, in the layout the numpy engine and Keras both load
    checkpoint.npz  last epoch: weights, optimizer state, loop state (for --resume)
    history.csv     loss, val_loss, accuracy per epoch; curves.png draws it
    changes.json    (music) chord changes of corpus pieces to play over by default
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from jazzgen.config import Config
from jazzgen.core.files import read_json
from jazzgen.core.vocab import Vocab
from jazzgen.errors import UsageError

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


def default_model_dir() -> Path:
    """The bundled default model (reproduced by `jazzgen run pipelines/wjd.toml`)."""
    return Path(__file__).resolve().parent.parent / "assets" / "default_model"


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


def open_run(path: str | Path | None, warn=lambda msg: print(msg, file=sys.stderr)) -> Run:
    """Open a run directory (None = the bundled default model) and check it is usable."""
    path = Path(path) if path else default_model_dir()
    if not path.is_dir():
        raise UsageError(f"{path}: no such run directory")
    if not (path / "run.json").is_file():
        raise UsageError(f"{path}: not a run directory (no run.json; train one with `jazzgen train`)")
    info = read_json(path / "run.json")
    if info.get("format") != RUN_FORMAT:
        raise UsageError(f"{path}: run format {info.get('format')}, this jazzgen reads {RUN_FORMAT}")
    vocab = Vocab.from_json((path / "vocab.json").read_text(encoding="utf-8"))
    if vocab.hash != info.get("vocab_hash"):
        raise UsageError(f"{path}: vocab.json does not match the run (hash {vocab.hash} != {info.get('vocab_hash')})")
    if not (path / "export.npz").is_file():
        raise UsageError(f"{path}: no trained weights yet (export.npz appears after the first epoch)")
    config = Config.from_dict(read_json(path / "config.json"), origin=str(path / "config.json"))
    task = read_json(path / "task.json")
    now = library_versions()
    then = info.get("versions", {})
    changed = [f"{k} {then[k]} -> {now[k]}" for k in sorted(then) if k in now and now[k] != then[k] and k != "jazzgen"]
    if changed:
        warn(f"warning: {path} was trained with other library versions: {', '.join(changed)}")
    return Run(path, config, vocab, task, info)


def finish_run(run_dir: Path, result, log) -> None:
    """Record how training ended in run.json, draw curves.png, and say so in one line."""
    from jazzgen.core.files import write_json

    info = read_json(run_dir / "run.json")
    info.update(epochs_done=result.epochs_done, best_epoch=result.best_epoch,
                best_val_loss=result.best_val_loss, stopped_because=result.stopped_because,
                finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    write_json(run_dir / "run.json", info)
    from jazzgen.core.curves import plot_history

    plot_history(run_dir / "history.csv", run_dir / "curves.png")
    log(f"{result.stopped_because}: {result.epochs_done} epochs, best val loss "
        f"{result.best_val_loss:.4f} at epoch {result.best_epoch} -> {run_dir}")

