"""The README's Python example runs as written (in a temporary folder) and does what it says."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def test_readme_python_example_runs(tmp_path):
    code = README.read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]
    out = io.StringIO()
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(out):
            namespace: dict = {}
            exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the example is ours
    finally:
        os.chdir(here)
    printed = out.getvalue()
    assert "<Performance 'Rhythm Bridge'" in printed and "16 bars" in printed and "alto sax" in printed
    assert "| D7 | % | G7 | % |" in printed and "Giant Steps" in printed
    assert (tmp_path / "bridge.mid").stat().st_size > 1000
    assert "<harmony>" in (tmp_path / "bridge.musicxml").read_text()
    assert namespace["song"]._repr_html_().count("base64,") == 2
