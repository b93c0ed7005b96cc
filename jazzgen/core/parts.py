"""One cluster task's share of the inputs: `preprocess --part K/N` (joined by `merge-corpora`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jazzgen.errors import UsageError


def parse_part(spec: str) -> tuple[int, int]:
    """ "K/N" -> (K, N) with 1 <= K <= N; raises UsageError otherwise."""
    k, sep, n = spec.partition("/")
    if not (sep and k.strip().isdigit() and n.strip().isdigit()) or not 1 <= int(k) <= int(n):
        raise UsageError(f"--part {spec!r}: want K/N with 1 <= K <= N, e.g. 1/4")
    return int(k), int(n)


def select_part(inputs: Sequence[Path], ignored: Sequence, spec: str) -> tuple[list[Path], list]:
    """This task's contiguous slice of the sorted inputs; part 1 also reports the ignored files."""
    k, n = parse_part(spec)
    first, stop = len(inputs) * (k - 1) // n, len(inputs) * k // n
    return list(inputs[first:stop]), list(ignored) if k == 1 else []
