"""What every `jazzgen` command shares: errors turned into one line and an exit code, directory
locks, the silent TensorFlow import, and the option groups several commands take.

`jazzgen.cli` holds the commands themselves; both are the command-line face over the stages.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys

import click

from jazzgen.errors import ChordParseError, JazzgenError, UsageError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out


class _QuietTensorFlowImport:
    """Import hook: the first `import tensorflow` runs with file descriptor 2 sent to /dev/null.

    TensorFlow's C++ side logs through absl before TF_CPP_MIN_LOG_LEVEL is read ("All log messages
    before absl::InitializeLog() ...", the oneDNN notice) straight to fd 2, on every `train`,
    `predict` and Keras `generate`. Only the import is silenced: errors raised later still show.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once; find the real spec below without this hook
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        real_exec = spec.loader.exec_module

        def exec_module(module):
            sys.stderr.flush()
            saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 2)
                real_exec(module)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                os.close(devnull)

        spec.loader.exec_module = exec_module
        return spec


def quiet_tensorflow() -> None:
    """Install the import hook above once (nothing to do once TensorFlow is loaded)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


def reports_errors(fn):
    """Turn expected failures into one line on stderr and an exit code.

    2: usage (bad arguments, a folder where a file goes, a directory another process holds);
    1: data and machine (unusable files, disk full, read-only output); 130: Ctrl-C.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (UsageError, ChordParseError) as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except JazzgenError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)
        except (IsADirectoryError, NotADirectoryError) as e:
            click.echo(f"error: {_os_error(e)}", err=True)
            sys.exit(2)
        except OSError as e:  # full disk, read-only mount, permissions, short writes
            click.echo(f"error: {_os_error(e)}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo(f"interrupted: jazzgen {fn.__name__.replace('_', '-')} stopped, nothing half-written kept",
                       err=True)
            sys.exit(130)

    return wrapper


def holds_locks(dirs_of):
    """Hold the lock of each directory `dirs_of(params)` names while the command runs.

    A second process writing the same run or corpus directory stops before touching it, naming
    the holder (exit 2); see `jazzgen.core.lock`. Put it below `reports_errors`.
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(**params):
            from jazzgen.stages import dir_lock

            with contextlib.ExitStack() as stack:
                for path in dict.fromkeys(d for d in dirs_of(params) if d):
                    stack.enter_context(dir_lock(path, fn.__name__.replace("_", "-")))
                return fn(**params)

        return wrapper

    return decorate


def at_least(*checks: tuple[str, int | None, int]) -> None:
    """(option, value, lowest allowed): a value below it is a usage error, before any work."""
    for option, value, lowest in checks:
        if value is not None and value < lowest:
            raise UsageError(f"{option} must be {'> 0' if lowest == 1 else f'>= {lowest}'} (got {value})")


def settings_of(params: dict):
    """The config a command's --pipeline and --set give (to find its output before it runs)."""
    from jazzgen.config import load_config

    return load_config(params.get("pipeline"), params.get("sets") or ())


def _os_error(e: OSError) -> str:
    """One line naming the file and the reason, in words a user acts on."""
    import errno

    hint = {errno.ENOSPC: " (disk full: free some space and run it again)",
            errno.EDQUOT: " (disk quota exceeded)",
            errno.EROFS: " (choose an output on a writable disk)",
            errno.EISDIR: " (give a file name, not a folder)"}.get(e.errno or 0, "")
    where = f"{e.filename}: " if e.filename else ""
    return f"{where}{e.strerror or e}{hint}"


pipeline_option = click.option("--pipeline", "pipeline", type=click.Path(dir_okay=False),
                               help="TOML recipe from pipelines/ (its settings, then --set, apply).")
set_option = click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE",
                          help="Override one setting, e.g. --set train.epochs=3 (repeatable).")

def performance_options(fn):
    """The jazz performance options of `generate` (see `jazzgen.generate` and docs/charts.md)."""
    options = [
        click.option("--chart", default=None, metavar="FILE", help="A chord chart file (docs/charts.md)."),
        click.option("--tune", default=None, metavar="NAME", help="A tune of the tune book (jazzgen tunes)."),
        click.option("--tempo", type=float, default=None, metavar="BPM", help="Quarter notes per minute."),
        click.option("--time", default=None, metavar="N/D", help="Meter of typed changes, e.g. 3/4."),
        click.option("--key", default=None, help="Transpose the changes to this key, e.g. Eb or Cm."),
        click.option("--instrument", default=None, metavar="NAME|PROGRAM",
                     help="The soloist (tenor sax, alto sax, trumpet, trombone, guitar, piano, vibes, flute ...)."),
        click.option("--band", type=click.Choice(["trio", "bass", "none"]), default=None,
                     help="Rhythm section: piano+bass+drums (default), bass, or none (held chords)."),
        click.option("--style", type=click.Choice(["swing", "ballad", "bossa", "waltz"]), default=None,
                     help="Groove (default: the chart's style:, else swing)."),
        click.option("--swing", type=float, default=None, metavar="R",
                     help="Long-short ratio of eighth pairs (1.0 = straight; default by tempo)."),
        click.option("--musicxml", is_flag=True, help="Also write a lead sheet (.musicxml) beside the MIDI."),
        click.option("--pdf", is_flag=True, help="Also engrave the lead sheet as PDF (MuseScore or LilyPond)."),
        click.option("--svg", is_flag=True, help="Also engrave the lead sheet as SVG."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn
