"""The task registry: task name -> the object that does everything particular to it.

Tasks are imported only when looked up, so `jazzgen --help` and numpy generation stay instant.
A new task is one module holding a `Task` subclass (see `base.py`) and one line in `TASKS`.
Tools are utilities a task offers the command line and the Python API (`render`, `import-wjd`,
`chart`, `tunes`), looked up here too so that both reach them through the stages.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from jazzgen.core.rundir import bundled_run_dir
from jazzgen.errors import UsageError

# name -> "module:class"
TASKS = {
    "jazz": "jazzgen.tasks.jazz:JazzTask",
    "chars": "jazzgen.tasks.text:CharsTask",
    "words": "jazzgen.tasks.text:WordsTask",
    "classify": "jazzgen.tasks.text:ClassifyTask",
    "tag": "jazzgen.tasks.text:TagTask",
    "dates": "jazzgen.tasks.text:DatesTask",
}
TASK_NAMES = tuple(TASKS)
DEFAULT_TASK = "jazz"  # `preprocess` without --task, and the bundled default model's task

# tool name -> "module:function"
TOOLS = {
    "render": "jazzgen.tasks.jazz:render_files",
    "import-wjd": "jazzgen.tasks.jazz:import_tables",
    "learn-dynamics": "jazzgen.tasks.jazz:learn_dynamics",
    "chart": "jazzgen.tasks.jazz:read_chart",
    "tunes": "jazzgen.music.tunes:search_tunes",
    "tune": "jazzgen.music.tunes:find_tune",
}


def _load(spec: str):
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def get_task(name: str | None):
    """The task object registered as `name`; UsageError listing the known ones otherwise."""
    if name not in TASKS:
        raise UsageError(f"unknown task {name!r} (known: {', '.join(TASK_NAMES)})")
    return _load(TASKS[name])()


def get_tool(name: str):
    """A file utility a task offers (see `TOOLS`)."""
    return _load(TOOLS[name])


def default_run_dir() -> Path:
    """The bundled default model (`generate` without a run; `jazzgen run pipelines/wjd.toml`)."""
    return bundled_run_dir()
