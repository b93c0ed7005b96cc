"""The one epoch loop: checkpoint cadence, history, TensorBoard, early stopping, interrupt, resume.

What one epoch does is a step backend's business; everything around it happens here, the same
for every backend and task:

    KerasBackend        (core/training.py)     one device, compiled chunks of batches
    DistributedBackend  (core/distributed.py)  tf.distribute: mirrored, multi-worker, shards
    NumpyBackend        (core/numpy_lm.py)     the numpy reference RNN, no TensorFlow

Checkpoints: at most every `checkpoint_every_s` (always after the last epoch, and every epoch
for backends that must, e.g. multi-worker) the backend writes `checkpoint.npz` (weights,
optimizer state and this loop's state in ONE atomically written file) beside `history.csv`,
so a run killed at any moment resumes from its last checkpoint with the same history. The best
weights are exported as soon as they improve, so `generate` works while a run is training.
Each epoch's figures also go to TensorBoard (`tensorboard --logdir RUN_DIR/tensorboard`).
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jazzgen.core.files import atomic_open
from jazzgen.errors import InputError

HISTORY_FIELDS = ("epoch", "loss", "val_loss", "accuracy", "val_accuracy", "seconds")


@dataclass
class TrainResult:
    epochs_done: int
    best_epoch: int
    best_val_loss: float
    stopped_because: str  # "epochs" | "early stopping" | "time limit" | "interrupted"
    history: list[dict]


class StepBackend:
    """What the loop asks of a backend. Subclasses implement the four methods that raise."""

    suffix = ""  # appended to each epoch line, e.g. " (numpy)"
    checkpoint_each_epoch = False  # True: ignore `checkpoint_every_s` (workers must agree)
    show_progress = False  # a progress bar on stderr during training epochs
    # Set by `run_epochs` from max_minutes: a backend that can end an epoch early (between
    # chunks of batches) does so past this `time.perf_counter()` value and says so with `log`.
    deadline = math.inf
    log: Callable[[str], None] = staticmethod(print)

    def restore(self, path: Path) -> dict:
        """Load weights and optimizer state from a checkpoint; returns the loop state in it."""
        raise NotImplementedError

    def save(self, path: Path, state: dict) -> None:
        """Write weights, optimizer state and the loop state to one checkpoint file."""
        raise NotImplementedError

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        """One pass over the training data in epoch `epoch`'s order -> (mean loss, accuracy)."""
        raise NotImplementedError

    def evaluate(self, epoch: int) -> tuple[float, float]:
        """Mean loss and accuracy on the validation data (nan, nan when there is none)."""
        raise NotImplementedError

    def export_best(self) -> None:
        """The weights just improved: export them (default: nothing)."""

    def score(self) -> float | None:
        """A validation score of the current weights (higher is better) that picks the best
        epoch and stops early instead of the validation loss; None (default): the loss does."""
        return None

    def agree(self, flag: bool) -> bool:
        """True when `flag` is true in any process of the run (default: this one only)."""
        return flag

    def check_resume(self, epoch: int) -> None:
        """Refuse to go on when the processes of one run would resume from different epochs."""

    def go_back(self, rate_scale: float) -> None:
        """Reduce on plateau: back to the best weights (when still held), learning rate = the
        initial one times `rate_scale`. Only backends that implement it accept `lr_decay`."""
        raise NotImplementedError("this backend cannot lower its learning rate")


def progress_bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


def show_progress(label: str, done: int, total: int) -> None:
    """Redraw a progress bar on stderr (interactive terminals only; logs get one line per epoch)."""
    print(f"\r  {label} {progress_bar(done, total)}", end="", file=sys.stderr, flush=True)
    if done >= total:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr, flush=True)


def write_history(path: Path, history: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in HISTORY_FIELDS})
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(buf.getvalue())


def new_loop_state() -> dict:
    """The loop state a checkpoint carries: epochs done, best loss, early-stopping count, history."""
    return {"epoch": 0, "best_val_loss": None, "best_epoch": 0, "bad_epochs": 0, "history": [],
            "rate_scale": 1.0}


def record_epoch(state: dict, row: dict, watched: float | None = None) -> bool:
    """Add one epoch's history row to the loop state; returns whether it is the best so far.

    The validation loss is watched (the training loss when there is no validation split),
    unless `watched` is given (lower is better).
    """
    if watched is None:
        watched = row["val_loss"] if not math.isnan(row["val_loss"]) else row["loss"]
    best = state["best_val_loss"]
    improved = best is None or watched < best - 1e-4
    state["history"].append(row)
    state["epoch"] = row["epoch"]
    if improved:
        state.update(best_val_loss=watched, best_epoch=row["epoch"], bad_epochs=0)
    else:
        state["bad_epochs"] += 1
    return improved


def epoch_line(row: dict, epochs: int, improved: bool, suffix: str = "") -> str:
    """The one line printed per epoch."""
    acc = f"  acc {row['accuracy']:.3f}" if isinstance(row.get("accuracy"), float) else ""
    return (f"epoch {row['epoch']}/{epochs}  loss {row['loss']:.4f}  val_loss {row['val_loss']:.4f}{acc}  "
            f"val_acc {row['val_accuracy']:.3f}  {row['seconds']:.1f}s{suffix}" + ("  *best" if improved else ""))


class ScalarLog:
    """Per-epoch figures as TensorBoard scalars (`tensorboard --logdir RUN`).

    Written with TensorBoard's own event writer and protos (no TensorFlow import), not
    `tf.summary`: each eager `tf.summary.scalar` is a TensorFlow op call (~1 ms), as long as a
    whole batch at the course's size. The writer queues events on its own thread; `flush` is
    called with every checkpoint.
    """

    NAMES = ("loss", "val_loss", "accuracy", "val_accuracy")

    def __init__(self, log_dir: Path):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._writer = EventFileWriter(str(log_dir))

    def add(self, row: dict) -> None:
        """One epoch's loss, val_loss, accuracy and val_accuracy at step `row["epoch"]`."""
        from tensorboard.compat.proto import event_pb2, summary_pb2

        values = [summary_pb2.Summary.Value(tag=name, simple_value=row[name]) for name in self.NAMES
                  if isinstance(row.get(name), float) and not math.isnan(row[name])]
        self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=row["epoch"],
                                               summary=summary_pb2.Summary(value=values)))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def run_epochs(backend: StepBackend, run_dir: Path, *, epochs: int, patience: int,
               max_minutes: float = 0.0, checkpoint_every_s: float = 0.0, resume: bool = False,
               lr_decay: float = 1.0, log: Callable[[str], None] = print) -> TrainResult:
    """Train with `backend` until `epochs`, early stopping, the time limit or Ctrl-C.

    Args:
        run_dir: receives checkpoint.npz, history.csv and tensorboard/.
        patience: stop after this many epochs without a better validation loss (0 = never).
        max_minutes: stop after the epoch that passes this wall time (0 = no limit).
        checkpoint_every_s: write checkpoint and history at most this often (0 = every epoch),
            and always after the last epoch. Epochs of milliseconds would otherwise spend as
            long writing as training; an interruption resumes from the last write.
        resume: continue from run_dir/checkpoint.npz (weights, optimizer, epoch, history).
        lr_decay: < 1: after an epoch that did not improve (and does not stop the run), the
            backend goes back to the best weights and trains on at the rate times this; the
            scale is kept in the checkpoint. Patience still counts from the best epoch.
    """
    run_dir = Path(run_dir)
    ckpt_path = run_dir / "checkpoint.npz"
    state = new_loop_state()
    if resume and ckpt_path.is_file():
        state = _restore(backend, ckpt_path)
        log(f"resuming from epoch {state['epoch']} (best val loss {state['best_val_loss']})")
        if state.get("rate_scale", 1.0) != 1.0:
            backend.go_back(state["rate_scale"])  # the lowered rate; the best weights are the export's
    elif resume:
        log("nothing to resume (no checkpoint.npz yet); starting from epoch 1")
    backend.check_resume(state["epoch"])

    scalars = ScalarLog(run_dir / "tensorboard")
    start = time.perf_counter()
    backend.deadline = start + max_minutes * 60 if max_minutes else math.inf
    backend.log = log
    last_write = -math.inf
    saved_epoch = state["epoch"]
    stopped = "epochs"
    try:
        while state["epoch"] < epochs:
            epoch = state["epoch"] + 1
            t0 = time.perf_counter()
            loss, acc = backend.train_epoch(epoch)
            val_loss, val_acc = backend.evaluate(epoch)
            row = dict(epoch=epoch, loss=round(loss, 5), val_loss=round(val_loss, 5),
                       accuracy=round(acc, 5) if isinstance(acc, float) else acc,
                       val_accuracy=round(val_acc, 5), seconds=round(time.perf_counter() - t0, 2))
            score = backend.score()  # the state's best_val_loss then holds minus the best score
            improved = record_epoch(state, row, None if score is None else -score)
            scalars.add(row)
            if improved:
                backend.export_best()
            # Early stopping first; every process of a run agrees on the time limit.
            over = bool(max_minutes) and time.perf_counter() - start > max_minutes * 60
            reason = ("early stopping" if state["bad_epochs"] >= patience > 0
                      else "time limit" if backend.agree(over) else None)
            went_back = not improved and lr_decay < 1 and reason is None and epoch < epochs
            if went_back:  # before the checkpoint, so a resume goes on from the best weights too
                state["rate_scale"] = state.get("rate_scale", 1.0) * lr_decay
                backend.go_back(state["rate_scale"])
            if (reason or epoch == epochs or backend.checkpoint_each_epoch
                    or time.perf_counter() - last_write >= checkpoint_every_s):
                backend.save(ckpt_path, state)
                write_history(run_dir / "history.csv", state["history"])
                scalars.flush()
                last_write, saved_epoch = time.perf_counter(), epoch
            log(epoch_line(row, epochs, improved,
                           backend.suffix + ("" if score is None else f"  val_score {score:.4f}")))
            if went_back:
                log(f"no better validation loss: back to epoch {state['best_epoch']}'s weights, "
                    f"learning rate x{state['rate_scale']:g}")
            if reason:
                stopped = reason
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
        log(f"interrupted: checkpoint of epoch {saved_epoch} kept; continue with --resume")
        state["epoch"] = saved_epoch
    else:
        if state["history"]:  # also after a resume with nothing left to do: history matches the checkpoint
            write_history(run_dir / "history.csv", state["history"])
    finally:
        scalars.close()
    return TrainResult(state["epoch"], state["best_epoch"], state["best_val_loss"] or float("nan"),
                       stopped, state["history"])


def _restore(backend: StepBackend, path: Path) -> dict:
    """`backend.restore`, with a damaged checkpoint named in one line instead of a traceback."""
    import zipfile

    try:
        state = backend.restore(path)
    except (KeyError, ValueError, TypeError, IndexError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(path, "damaged checkpoint",
                         f"{type(e).__name__}: {e}"[:160] + "; train into a new -o to start over") from e
    if not isinstance(state, dict) or "epoch" not in state:
        raise InputError(path, "damaged checkpoint", "no loop state; train into a new -o to start over")
    return state
