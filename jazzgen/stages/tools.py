"""Utilities a task offers the command line and the API (`render`, `import-wjd`, charts, tunes),
found in the registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from jazzgen.errors import UsageError
from jazzgen.tasks import get_tool


def render(files: Sequence[str], wav: bool, png: bool, log: Callable[[str], None] = print) -> None:
    """Audio and/or a picture beside existing files."""
    paths = [Path(f) for f in files]
    missing = [p for p in paths if not (p.exists() or p.is_symlink())]
    if missing:
        raise UsageError(f"{missing[0]}: no such file")
    get_tool("render")(paths, wav, png, log)


def import_tables(src: str | Path, output: str | Path, log: Callable[[str], None] = print) -> dict:
    """Convert a folder of source tables into files `preprocess` reads (the WJD importer)."""
    return get_tool("import-wjd")(Path(src), Path(output), log)


def learn_dynamics(corpus: str | Path, run: str | Path, log: Callable[[str], None] = print) -> dict:
    """Fit a run's dynamics table from its corpus (for runs trained before corpora kept velocities)."""
    return get_tool("learn-dynamics")(Path(corpus), Path(run), log)


def read_chart(text_or_path, time: str | None = None):
    """A chord chart from chart text, or from a file when given a Path (docs/charts.md)."""
    return get_tool("chart")(text_or_path, time)


def tunes(query: str = "") -> list:
    """The tune book's entries whose title matches `query` (all when empty)."""
    return get_tool("tunes")(query)


def tune(name: str) -> dict:
    """The one tune `name` names (exact title or unambiguous start); UsageError lists candidates."""
    return get_tool("tune")(name)
