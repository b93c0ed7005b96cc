"""`jazzgen evaluate RUN_DIR`: score a run on data it did not train on, as its task does.

With `as_json` the result is printed as one JSON object (its `loss` is the held-out mean loss in
nats per value); otherwise the task's report.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from jazzgen.core.rundir import open_run
from jazzgen.tasks import get_task
from jazzgen.tasks.base import EvaluateRequest, given


def evaluate(run_dir: str | Path, as_json: bool = False, samples: int | None = None,
             sentence: str | None = None, seed: int = 0, corpus_dir: str | Path | None = None,
             files: tuple[str, ...] = (), log: Callable[[str], None] = print) -> dict:
    """Evaluate a run directory and print the result; returns it as a dict.

    Args:
        samples: pieces to generate for sample statistics (None: the task's default; 0 = none).
        sentence: (language models) also report the probability of this sentence.
        corpus_dir: the training corpus, if it moved since training.
        files: (jazz) MIDI solos to judge instead of generating `samples` of them.

    Raises:
        UsageError: an option the run's task does not use, or a run that cannot be scored.
    """
    run = open_run(run_dir, warn=lambda m: print(m, file=sys.stderr))
    task = get_task(run.task.get("task"))
    request = EvaluateRequest(files=tuple(files), sentence=sentence, samples=samples, seed=seed,
                              corpus_dir=str(corpus_dir) if corpus_dir else None)
    task.refuse(given(request), task.evaluate_options, "evaluate")
    result, report = task.evaluate(run, request, log=lambda m: print(m, file=sys.stderr))
    log(json.dumps(result, ensure_ascii=False) if as_json else report)
    return result
