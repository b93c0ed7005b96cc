"""Helpers shared by the benchmark scripts: the jazzgen command, child processes, the machine."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository


def jazzgen_cmd() -> list[str]:
    """The `jazzgen` console script beside this Python, else `python -m jazzgen`."""
    script = Path(sys.executable).with_name("jazzgen")
    if script.is_file():
        return [str(script)]
    found = shutil.which("jazzgen")
    return [found] if found else [sys.executable, "-m", "jazzgen"]


def child_env(**extra: str) -> dict[str, str]:
    """This environment, TensorFlow's C++ start-up lines silenced, plus `extra`."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env.pop("JAZZGEN_PROGRESS", None)
    return env


def run_child(cmd: list[str], cwd: str | Path | None = None, env: dict | None = None) -> dict:
    """Run a command to its end: wall seconds, exit code, peak RSS (MiB), captured output.

    The peak is `ru_maxrss` from `wait4` for this child alone: the largest resident set of the
    child or of any descendant it waited for (worker processes), not their sum.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env or child_env(), stdout=out, stderr=err,
                                text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # reap it ourselves to get its rusage
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"seconds": seconds, "code": proc.returncode,
                "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
                "stdout": out.read(), "stderr": err.read()}


def machine() -> dict:
    """CPU model, logical cores, Python and the 1-minute load average when measured."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "load_avg_1min": round(os.getloadavg()[0], 2)}


def train_flops_per_value(hidden: int, input_width: int, vocab: int) -> int:
    """FLOPs of a one-layer LSTM language model's matmuls per trained value (forward + backward).

    Forward multiply-adds per value: 4 H (H + E) for the gates over [h; x] and H V for the head,
    with E the LSTM's input width (embedding + condition features, or V for one-hot input).
    Training runs each matmul three times (forward; backward to its input and to its weights,
    each as large as the forward) at 2 FLOPs per multiply-add. Lookups, activations, the
    softmax and Adam are not counted: they are not matmuls.
    """
    macs_forward = 4 * hidden * (hidden + input_width) + hidden * vocab
    return 3 * 2 * macs_forward
