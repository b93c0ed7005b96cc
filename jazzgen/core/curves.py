"""Training curves: draw a run's history CSV (loss and accuracy per epoch) as a PNG.

The CSV has a header row with some of the columns epoch, loss, val_loss, accuracy,
val_accuracy (the names Keras's CSVLogger writes); a missing column or an empty cell is simply
not drawn, so a history without validation, or with validation every few epochs, still plots.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from jazzgen.core.files import atomic_path
from jazzgen.errors import JazzgenError

LOSS_COLUMNS = ("loss", "val_loss")
ACCURACY_COLUMNS = ("accuracy", "val_accuracy")


def _number(cell: str | None) -> float:
    """A CSV cell as a float; NaN when empty, missing or not a number."""
    try:
        return float(cell) if cell not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_history(history_csv: str | os.PathLike) -> dict[str, list[float]]:
    """Read a history CSV into columns of floats (NaN where a cell is empty).

    Args:
        history_csv: the CSV file written during training.

    Returns:
        {"epoch": [...], and each of loss, val_loss, accuracy, val_accuracy that has a value}.
        Epochs count 1, 2, ... when the file has no epoch column.

    Raises:
        JazzgenError: the file cannot be read or has no rows.
    """
    try:
        with open(history_csv, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise JazzgenError(f"{history_csv}: cannot read history ({e})") from e
    if not rows:
        raise JazzgenError(f"{history_csv}: history has no rows")
    columns = {"epoch": [_number(r.get("epoch")) for r in rows]}
    if all(math.isnan(e) for e in columns["epoch"]):
        columns["epoch"] = [float(i) for i in range(1, len(rows) + 1)]
    for name in LOSS_COLUMNS + ACCURACY_COLUMNS:
        values = [_number(r.get(name)) for r in rows]
        if not all(math.isnan(v) for v in values):
            columns[name] = values
    return columns


def _series(columns: dict[str, list[float]], name: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of one column without its empty cells, so sparse series still join up."""
    pairs = [
        (e, v) for e, v in zip(columns["epoch"], columns[name], strict=True) if not math.isnan(v)
    ]
    return [e for e, _ in pairs], [v for _, v in pairs]


def plot_history(history_csv: str | os.PathLike, png_path: str | os.PathLike) -> None:
    """Draw loss and validation loss on one axis, accuracies on a second, per epoch.

    The accuracy axis is left out when the history has no accuracy; the lowest validation loss
    is marked, since that is the epoch a checkpoint would keep.

    Args:
        history_csv: the CSV file written during training (see `read_history`).
        png_path: the PNG file to write (atomically).

    Raises:
        JazzgenError: unreadable history, or no loss or accuracy values in it.
    """
    # Figure + the Agg canvas directly: no pyplot, so no global backend or figure state.
    # Imported here so that importing jazzgen.core stays cheap.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = read_history(history_csv)
    groups = [
        (names, label)
        for names, label in ((LOSS_COLUMNS, "loss"), (ACCURACY_COLUMNS, "accuracy"))
        if any(n in columns for n in names)
    ]
    if not groups:
        raise JazzgenError(f"{history_csv}: no loss or accuracy values to plot")

    fig = Figure(figsize=(6 * len(groups), 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    styles = {"loss": "-", "accuracy": "-", "val_loss": "--", "val_accuracy": "--"}
    for ax, (names, label) in zip(axes, groups, strict=True):
        for name in names:
            if name not in columns:
                continue
            xs, ys = _series(columns, name)
            ax.plot(xs, ys, styles[name], marker="o", markersize=3, label=name)
        if label == "loss" and "val_loss" in columns:
            value, epoch = min((v, e) for e, v in zip(*_series(columns, "val_loss"), strict=True))
            ax.plot(epoch, value, "k*", markersize=10, label=f"best val_loss {value:.4g}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(Path(history_csv).parent.name or Path(history_csv).name)
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png")
