"""Tests for jazzgen.core.curves: history CSV to training-curve PNG."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from jazzgen.core.curves import plot_history, read_history
from jazzgen.errors import JazzgenError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def test_full_history(tmp_path: Path) -> None:
    rows = [f"{e},{2 / (e + 1)},{2.2 / (e + 1) + 0.01 * e},{0.1 * e},{0.09 * e}" for e in range(10)]
    csv = write_csv(tmp_path / "history.csv", "epoch,loss,val_loss,accuracy,val_accuracy", rows)
    png = tmp_path / "plots" / "curves.png"
    plot_history(csv, png)
    assert png_size(png) == (1200, 450)  # two axes side by side
    assert png.stat().st_size > 10_000
    assert [p.name for p in png.parent.iterdir()] == ["curves.png"]  # no temporary left over


def test_missing_columns_and_empty_cells(tmp_path: Path) -> None:
    """Loss only, validation every other epoch, no epoch column: one axis, still drawn."""
    rows = ["2.0,1.9", "1.5,", "1.2,1.4", "1.0,", "0.9,1.3"]
    csv = write_csv(tmp_path / "history.csv", "loss,val_loss", rows)
    history = read_history(csv)
    assert history["epoch"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert math.isnan(history["val_loss"][1]) and history["val_loss"][4] == 1.3
    assert "accuracy" not in history
    png = tmp_path / "curves.png"
    plot_history(csv, png)
    assert png_size(png) == (600, 450)


def test_empty_column_is_dropped(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "h.csv", "epoch,loss,accuracy", ["0,1.0,", "1,0.8,"])
    assert set(read_history(csv)) == {"epoch", "loss"}


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        ("epoch,loss", [], "no rows"),
        ("epoch,lr", ["0,0.01"], "no loss or accuracy"),
    ],
)
def test_unusable_history_raises(tmp_path: Path, header: str, rows: list[str], message: str):
    csv = write_csv(tmp_path / "h.csv", header, rows)
    with pytest.raises(JazzgenError, match=message):
        plot_history(csv, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(JazzgenError, match="cannot read history"):
        plot_history(tmp_path / "nope.csv", tmp_path / "c.png")


def test_core_imports_no_music_libraries_or_pyplot(tmp_path: Path) -> None:
    """core stays free of music21/pretty_midi, and drawing leaves pyplot's global state alone."""
    csv = write_csv(tmp_path / "h.csv", "epoch,loss", ["0,1.0", "1,0.5"])
    code = (
        "import sys; from jazzgen.core.curves import plot_history; "
        f"plot_history({str(csv)!r}, {str(tmp_path / 'c.png')!r}); "
        "bad = {'music21', 'pretty_midi', 'matplotlib.pyplot'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
