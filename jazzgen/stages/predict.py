"""`jazzgen predict RUN_DIR TEXT...`: label text with a run whose task labels (classify, tag, dates)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from jazzgen.core.rundir import open_run
from jazzgen.errors import UsageError
from jazzgen.tasks import get_task


def predict(run_dir: str | Path, texts: Sequence[str]) -> list[str]:
    """The output lines for `texts` (see each task's `predict`)."""
    if not texts:
        raise UsageError("predict: give some text (as arguments or on stdin)")
    run = open_run(run_dir, warn=lambda m: print(m, file=sys.stderr))
    return get_task(run.task.get("task")).predict(run, list(texts))
