"""Where this process stands in a tf.distribute cluster, read from TF_CONFIG without TensorFlow:
the strategy names, which worker writes the run directory, and the strategy objects themselves
(TensorFlow imported inside). `core.distributed` trains under them; the train stage asks
`worker_run_dir` before anything is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jazzgen.errors import UsageError

STRATEGIES = ("default", "mirrored", "multiworker")


def check_strategy(name: str) -> None:
    """Raise UsageError unless `name` is one of STRATEGIES."""
    if name not in STRATEGIES:
        raise UsageError(f"unknown train.strategy {name!r} (known: {', '.join(STRATEGIES)})")


def worker_task() -> tuple[str, int]:
    """(task type, index) from TF_CONFIG; ("worker", 0) without one."""
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
    return task.get("type", "worker"), int(task.get("index", 0))


def is_chief(strategy: str) -> bool:
    """True for the process that writes the run directory: always, except multi-worker tasks > 0."""
    if strategy != "multiworker":
        return True
    kind, index = worker_task()
    return kind == "chief" or (kind == "worker" and index == 0)


def worker_run_dir(run_dir: str | Path, strategy: str) -> Path:
    """RUN_DIR for the chief; RUN_DIR.worker-K for multi-worker task K (its copy to resume from).

    Raises:
        UsageError: `strategy` is not one of STRATEGIES (checked before anything is written).
    """
    check_strategy(strategy)
    run_dir = Path(run_dir)
    if is_chief(strategy):
        return run_dir
    kind, index = worker_task()
    return run_dir.with_name(f"{run_dir.name}.{kind}-{index}")


def split_cpu(n: int) -> None:
    """Split the CPU into n logical devices, so "mirrored" has n replicas without a GPU.

    Call before TensorFlow runs anything (tests and benchmarks; the replicas share the cores).
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def make_strategy(name: str):
    """The tf.distribute strategy called `name` (one of STRATEGIES; UsageError otherwise)."""
    import tensorflow as tf

    check_strategy(name)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    if not os.environ.get("TF_CONFIG"):  # multiworker
        raise UsageError("strategy multiworker: set TF_CONFIG on every worker (docs/scaling.md)")
    return tf.distribute.MultiWorkerMirroredStrategy()
