"""Training windows of input rows, kept small: most columns of a conditioned row are 0/1 flags.

A conditioned model's input at every step is a row [previous id, features...] of float32
(`music.conditioning`). Over a corpus in 12 keys those rows are gigabytes, yet all but a few
feature columns are one-hot flags. `PackedRows` keeps the id and the fractional columns as
float32 and every flag column in one byte (a quarter of the memory; 3.3 -> 0.9 GB for the
events recipe's windows) and gives back exact float32 rows for the windows a training chunk
asks for (`rows[pick]`), so the training loop (`core.training._run_chunks`) never sees the
difference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class PackedRows:
    """`n` windows of `seq_len` rows of `width` float32 columns # (N, T, W) as indexed.

    Args:
        n, seq_len, width: the windows' shape; rows not `put` are all zero (padding).
        real_columns: the columns holding values other than 0 and 1 (the id column, 0, always
            is); every other column must hold only 0 or 1, and `put` refuses rows where it does not.
    """

    def __init__(self, n: int, seq_len: int, width: int, real_columns: Sequence[int] = ()):
        real = np.zeros(width, bool)
        real[0] = True
        real[np.asarray(list(real_columns), np.int64)] = True
        self.real, self.flags = np.flatnonzero(real), np.flatnonzero(~real)
        # Columns come back run by run as slices (a fancy index over the last axis is ~10x slower).
        self.runs = _runs(self.real, True) + _runs(self.flags, False)
        self.shape = (n, seq_len, width)
        self.values = np.zeros((n, seq_len, len(self.real)), np.float32)    # (N, T, real columns)
        self.bits = np.zeros((n, seq_len, len(self.flags)), np.uint8)       # (N, T, flag columns)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return self.values.nbytes + self.bits.nbytes

    def put(self, k: int, rows: np.ndarray) -> None:
        """Window k's first len(rows) rows # (L <= T, W)."""
        flags = rows[:, self.flags]
        packed = flags.astype(np.uint8)
        if not np.array_equal(packed, flags):
            column = self.flags[np.flatnonzero((packed != flags).any(axis=0))[0]]
            raise ValueError(f"column {column} holds values other than 0 and 1; name it in real_columns")
        self.values[k, : len(rows)] = rows[:, self.real]
        self.bits[k, : len(rows)] = packed

    def __getitem__(self, pick) -> np.ndarray:
        """The windows `pick` (a slice or indices) as float32 rows # (n, T, W)."""
        values, bits = self.values[pick], self.bits[pick]
        out = np.empty(values.shape[:2] + (self.shape[2],), np.float32)
        for first, last, start, real in self.runs:
            out[..., first:last] = (values if real else bits)[..., start: start + last - first]
        return out

    @staticmethod
    def bytes_for(n: int, seq_len: int, width: int, n_real: int) -> int:
        """Memory `PackedRows(n, seq_len, width, n_real columns)` takes (id column not counted in n_real)."""
        return n * seq_len * ((1 + n_real) * 4 + (width - 1 - n_real))


def _runs(columns: np.ndarray, real: bool) -> list[tuple[int, int, int, bool]]:
    """(first, last + 1, index in the packed array, real) of each run of consecutive `columns`."""
    runs = []
    for k, column in enumerate(columns):
        if runs and runs[-1][1] == column:
            runs[-1] = (runs[-1][0], column + 1, runs[-1][2], real)
        else:
            runs.append((int(column), int(column) + 1, k, real))
    return runs
