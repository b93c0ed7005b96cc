"""`jazzgen train CORPUS_DIR -o RUN_DIR`: fit the corpus's task and write a run directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jazzgen.config import Config
from jazzgen.core.corpus import read_corpus
from jazzgen.core.distributed import worker_run_dir
from jazzgen.core.files import write_json
from jazzgen.core.plan import check_train_config, fit_plan
from jazzgen.core.rundir import finish_run, start_run, write_run_files
from jazzgen.tasks import get_task


def train(corpus_dir: str | Path, run_dir: str | Path, cfg: Config, resume: bool = False,
          log: Callable[[str], None] = print):
    """Train on a corpus directory; returns the TrainResult. The run dir is written as it goes.

    Raises:
        UsageError: settings the task cannot train with, or a run directory that is not resumable.
    """
    corpus = read_corpus(corpus_dir)
    task = get_task(corpus.task)
    check_train_config(cfg)
    plan = task.training_plan(corpus, cfg)
    run_dir = worker_run_dir(run_dir, cfg.train.strategy)  # multi-worker task K>0: RUN_DIR.worker-K
    run_dir = start_run(run_dir, corpus, cfg, resume)
    write_run_files(run_dir, corpus, cfg, plan.splits, plan.task_info)
    for name, data in plan.run_files.items():
        write_json(run_dir / name, data)
    result = fit_plan(plan, corpus, run_dir, cfg, resume, log)
    finish_run(run_dir, result, log)
    return result
