"""The layers, enforced from the imports themselves (docs/architecture.md).

    faces (cli, cli_support, api)  ->  stages  ->  tasks registry  ->  tasks  ->  music | text  ->  core

Every `import` and `from ... import` in every module of the package is read with `ast`,
including those inside functions (the lazy ones); imports under `if TYPE_CHECKING:` are type
hints only and are left out. A new upward or sideways import fails here, naming the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jazzgen"
MUSIC_LIBRARIES = ("music21", "pretty_midi", "mido")
SHARED = ("jazzgen.config", "jazzgen.errors")  # plain data and exceptions, usable from any layer


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path, package: str = "jazzgen") -> list[tuple[int, str]]:
    """(line, imported name) for every runtime import in the file; relative ones resolved
    against `package`, the package the file is in."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # `from jazzgen.tasks import jazz` imports the submodule jazzgen.tasks.jazz
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def layer(name: str) -> str:
    """The layer of a jazzgen module name."""
    for prefix in ("core", "music", "text", "tasks", "stages", "web"):
        if within(name, f"jazzgen.{prefix}"):
            return prefix
    if name == "jazzgen" or within(name, "jazzgen.cli", "jazzgen.cli_support", "jazzgen.api", "jazzgen.__main__"):
        return "face"
    return "shared"


def allowed(importer: str, imported: str) -> str | None:
    """None when `importer` may import `imported`, else the rule it breaks."""
    if not within(imported, "jazzgen"):
        if within(imported.split(".")[0], *MUSIC_LIBRARIES) and layer(importer) in ("core", "text"):
            return "core and text never import a music library"
        return None
    here, there = layer(importer), layer(imported)
    if within(imported, *SHARED) or here == there or imported == "jazzgen.__version__":
        return None
    rules = {
        "core": "core imports nothing of jazzgen above it (no music, text, tasks, stages, faces)",
        "music": "music imports only core (never text, tasks, stages or a face)",
        "text": "text imports only core (never music, tasks, stages or a face)",
        "tasks": "tasks import music, text and core, never stages or a face",
        "stages": "stages reach tasks only through the registry (jazzgen.tasks, jazzgen.tasks.base)",
        "face": "the CLI and the Python API reach only stages",
    }
    ok = {
        "core": (),
        "music": ("core",),
        "text": ("core",),
        "tasks": ("core", "music", "text"),
        "stages": ("core",),
        "face": ("stages",),
        "web": ("core", "music", "stages", "face"),
        "shared": ("core",),
    }[here]
    if there in ok:
        return None
    if here == "stages" and (within(imported, "jazzgen.tasks.base") or imported == "jazzgen.tasks" or (
            imported.rsplit(".", 1)[0] == "jazzgen.tasks" and imported.rsplit(".", 1)[1] in REGISTRY_NAMES)):
        return None
    if here == "face" and there == "web":
        return None  # `jazzgen serve` and `jazzgen.serve` start the studio
    return rules.get(here, f"{here} may not import {there}")


def _registry_names() -> set[str]:
    tree = ast.parse((PACKAGE / "tasks" / "__init__.py").read_text(encoding="utf-8"))
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    names |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
              if isinstance(t, ast.Name)}
    return names


REGISTRY_NAMES = _registry_names() | {"base"}
MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path: Path) -> None:
    importer = module_name(path)
    package = importer if path.name == "__init__.py" else importer.rsplit(".", 1)[0]
    broken = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}: {rule}"
              for line, name in imports(path, package) if (rule := allowed(importer, name))]
    assert not broken, "\n".join(broken)


def test_stages_name_no_task() -> None:
    """No stage compares against or spells a registered task's name."""
    names = set(_task_names())
    found = []
    for path in sorted((PACKAGE / "stages").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.name}:{node.lineno} {node.value!r}")
    assert not found, found


def _task_names() -> list[str]:
    tree = ast.parse((PACKAGE / "tasks" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "TASKS" for t in node.targets):
            return [k.value for k in node.value.keys]
    raise AssertionError("jazzgen/tasks/__init__.py defines no TASKS")


def test_the_checker_sees_a_broken_layer(tmp_path: Path) -> None:
    """The rules reject the imports they are meant to (so a passing run means something)."""
    assert allowed("jazzgen.core.models", "jazzgen.music.values")
    assert allowed("jazzgen.core.models", "pretty_midi")
    assert allowed("jazzgen.music.evaluate", "jazzgen.stages.generate")
    assert allowed("jazzgen.text.train", "jazzgen.music.values")
    assert allowed("jazzgen.stages.train", "jazzgen.tasks.jazz")
    assert allowed("jazzgen.stages.train", "jazzgen.music.values")
    assert allowed("jazzgen.cli", "jazzgen.music.render")
    assert allowed("jazzgen.api", "jazzgen.core.rundir")
    assert not allowed("jazzgen.stages.train", "jazzgen.tasks.get_task")
    assert not allowed("jazzgen.tasks.jazz", "jazzgen.music.values")
    assert not allowed("jazzgen.cli", "jazzgen.stages.train")
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from jazzgen.music import values\n")
    assert imports(lazy) == [(2, "jazzgen.music.values")]
