"""`jazzgen train CORPUS_DIR -o RUN_DIR`: fit the corpus's task and write a run directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jazzgen.config import Config
from jazzgen.core.cluster import worker_run_dir
from jazzgen.core.corpus import read_corpus
from jazzgen.core.files import write_json
from jazzgen.core.plan import check_train_config, fit_plan
from jazzgen.core.rundir import directory_path, finish_run, start_run, write_run_files
from jazzgen.errors import UsageError
from jazzgen.stages.finetune import prepare as prepare_finetune
from jazzgen.tasks import get_task


def train(corpus_dir: str | Path, run_dir: str | Path, cfg: Config, resume: bool = False,
          log: Callable[[str], None] = print, source: str | None = None):
    """Train on a corpus directory; returns the TrainResult. The run dir is written as it goes.

    `source` ("default" or a run directory) fine-tunes that model instead of starting afresh
    (next-value models; see `jazzgen.stages.finetune`).

    Raises:
        UsageError: settings the task cannot train with, or a run directory that is not resumable.
    """
    corpus = read_corpus(corpus_dir)
    task = get_task(corpus.task)
    check_train_config(cfg)
    run_dir = directory_path(worker_run_dir(run_dir, cfg.train.strategy))  # multi-worker K>0: RUN_DIR.worker-K
    corpus, cfg, start, source_record = prepare_finetune(corpus, run_dir, cfg, source, resume, log)
    cfg, chosen = task.train_settings(corpus, cfg, finetune=source_record is not None, log=log)
    plan = task.training_plan(corpus, cfg)
    if start is not None:
        # (a conditioned jazz model trains on arrays of rows: --from continues it on them)
        if (plan.arrays is not None and not cfg.model.condition_dim) or plan.backend != "keras":
            raise UsageError(f"--from does not apply to the {task.name} task with these settings "
                             "(fine-tuning continues a Keras next-value model)")
        plan.build = lambda: start.build(cfg.model)
    run_dir = start_run(run_dir, corpus, cfg, resume)
    write_run_files(run_dir, corpus, cfg, plan.splits, plan.task_info,
                    {**({"source": source_record} if source_record else {}),
                     **({"size_defaults": chosen} if chosen else {})})
    for name, data in plan.run_files.items():
        write_json(run_dir / name, data)
    result = fit_plan(plan, corpus, run_dir, cfg, resume, log)
    extra = plan.finish(run_dir) if plan.finish is not None and (run_dir / "export.npz").is_file() else {}
    finish_run(run_dir, result, log, extra)
    return result
