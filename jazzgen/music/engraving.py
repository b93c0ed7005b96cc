"""Engraving: a MusicXML lead sheet (`notation.lead_sheet_xml`) turned into PDF or SVG by
MuseScore, LilyPond or verovio, whichever this machine has; none of them is required.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from jazzgen.errors import JazzgenError

INSTALL_HINT = ("install an engraver: `apt-get install -y musescore3` (PDF and SVG) or `apt-get install -y "
                "lilypond` (PDF and SVG), or `pip install verovio` (SVG)")


def engravers() -> list[str]:
    """The engravers found on this machine, in the order `engrave` tries them."""
    found = [name for name in ("mscore3", "musescore3", "mscore", "musescore") if shutil.which(name)][:1]
    if shutil.which("musicxml2ly") and shutil.which("lilypond"):
        found.append("lilypond")
    try:
        import verovio  # noqa: F401

        found.append("verovio")
    except ImportError:
        pass
    return found


def engrave(musicxml: str | Path, out: str | Path, engraver: str | None = None) -> str:
    """Engrave a MusicXML file to `out` (.pdf or .svg); returns the engraver used.

    Args:
        engraver: one of `engravers()` to use (default: the first that makes this format).

    Raises:
        JazzgenError: no engraver that makes this format is installed (the message says what
            to install), or the engraver failed.
    """
    musicxml, out = Path(musicxml), Path(out)
    fmt = out.suffix.lower().lstrip(".")
    for name in engravers():
        if (name == "verovio" and fmt != "svg") or engraver not in (None, name):
            continue
        try:
            _run_engraver(name, musicxml, out, fmt)
        except (OSError, subprocess.SubprocessError) as err:
            raise JazzgenError(f"{out}: {name} failed to engrave ({err})") from err
        if out.is_file() and out.stat().st_size > 0:
            return name
        raise JazzgenError(f"{out}: {name} wrote nothing")
    raise JazzgenError(f"--{fmt}: no engraver for {fmt.upper()} found; {INSTALL_HINT}")


def _run_engraver(name: str, musicxml: Path, out: Path, fmt: str) -> None:
    if name == "verovio":
        import verovio

        toolkit = verovio.toolkit()
        # One tall page, so a whole lead sheet lands in one SVG.
        toolkit.setOptions({"pageHeight": 60000, "adjustPageHeight": True, "scale": 50})
        toolkit.loadData(musicxml.read_text(encoding="utf-8"))
        out.write_text(toolkit.renderToSVG(1), encoding="utf-8")
        return
    if name == "lilypond":
        with tempfile.TemporaryDirectory(prefix="jazzgen-ly-") as tmp:
            ly = Path(tmp) / "score.ly"
            subprocess.run(["musicxml2ly", "--no-beaming", "-o", str(ly), str(musicxml)], check=True,
                           capture_output=True, timeout=120)
            subprocess.run(["lilypond", f"--{fmt}", "-dno-point-and-click", "-o", str(Path(tmp) / "score"), str(ly)],
                           check=True, capture_output=True, timeout=300)
            made = sorted(Path(tmp).glob(f"score*.{fmt}"))
            if made:
                shutil.copyfile(made[0], out)
        return
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    subprocess.run([shutil.which(name), "-o", str(out), str(musicxml)], check=True, capture_output=True,
                   timeout=300, env=env)
    if fmt == "svg" and not out.is_file():  # MuseScore numbers SVG pages: out-1.svg
        pages = sorted(out.parent.glob(f"{out.stem}-*.svg"))
        if pages:
            pages[0].rename(out)
