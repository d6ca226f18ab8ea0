"""The library's layers, enforced on the import graph (module-level and function-level imports alike).

Bottom to top; a module may import from its own layer or any layer below, never above:

0. core: errors, device, seed (and the package's ``__init__``)
1. assets: the registry every file read goes through
2. data and models: data, corpus, textdata, models
3. kit: cache, training (fit, evaluate, probes, freezing), schedules, widgets (the widget kit), plots
4. lessons: one module per lesson, built on the kit
5. tools: the command line (``__main__``) and grading

No module imports another module's private (underscore) names: what a module shares, it names.
A new module must be placed in :data:`LAYERS` (the test fails until it is).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "course_lib"

LAYERS: dict[str, int] = {
    "__init__": 0, "errors": 0, "device": 0, "seed": 0,
    "assets": 1,
    "data": 2, "corpus": 2, "textdata": 2, "models": 2,
    "cache": 3, "training": 3, "schedules": 3, "widgets": 3, "plots": 3,
    "tour": 4, "vision": 4, "embeddings": 4, "elmo": 4, "ulmfit": 4, "transformers_ft": 4, "mlm": 4,
    "peft": 4, "vit": 4, "clip": 4, "foundation": 4,
    "__main__": 5, "grading": 5,
}  # fmt: skip
NAMES = ["core", "assets", "data/models", "kit", "lessons", "tools"]


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def _layer(module: str) -> int:
    return LAYERS[module.split(".")[0]]


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, course_lib module, imported names) for every import of the package in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "course_lib":
            if node.module == "course_lib":  # from course_lib import assets, models
                found += [(node.lineno, a.name, []) for a in node.names if (PACKAGE / f"{a.name}.py").exists() or (PACKAGE / a.name).is_dir()]
                found += [(node.lineno, "__init__", [a.name]) for a in node.names if not ((PACKAGE / f"{a.name}.py").exists() or (PACKAGE / a.name).is_dir())]
            else:
                found.append((node.lineno, node.module.removeprefix("course_lib."), [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.removeprefix("course_lib."), []) for a in node.names if a.name.startswith("course_lib.")]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = sorted({_module(p).split(".")[0] for p in MODULES} - set(LAYERS))
    assert not missing, f"place these modules in tests/test_layering.py LAYERS: {missing}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module(p))
def test_imports_go_down_the_layers(path):
    me = _module(path)
    if me.split(".")[0] not in LAYERS:
        pytest.skip("no layer yet (test_every_module_has_a_layer fails)")
    up = [f"line {line}: {me} ({NAMES[_layer(me)]}) imports {dep} ({NAMES[_layer(dep)]})"
          for line, dep, _ in _imports(path) if _layer(dep) > _layer(me)]
    assert not up, "imports against the layering:\n" + "\n".join(up)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module(p))
def test_no_private_names_across_modules(path):
    me = _module(path)
    private = [f"line {line}: {me} imports {dep}.{name}" for line, dep, names in _imports(path) for name in names
               if name.startswith("_") and dep != me]
    assert not private, "private names used across modules (make them public, or move them):\n" + "\n".join(private)


def test_the_test_sees_function_level_imports(tmp_path):
    """The scanner reads imports inside functions too (a hidden upward import is still upward)."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from course_lib.widgets import log_slider\n    import course_lib.training\n")
    found = {dep for _, dep, _ in _imports(probe)}
    assert found == {"widgets", "training"}


def test_no_course_lib_import_inside_a_function():
    """Every course_lib import sits at the top of its module, where a reader sees the module's
    dependencies; the one exception is the grader's sandboxed worker, which must import the
    grading code only after its limits are set."""
    allowed = {("grading.sandbox", "grading.grade")}
    hidden = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(fn):
                    mod = None
                    if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("course_lib"):
                        mod = node.module
                    elif isinstance(node, ast.Import):
                        mod = next((a.name for a in node.names if a.name.startswith("course_lib")), None)
                    if mod and (_module(path), mod.removeprefix("course_lib.")) not in allowed:
                        hidden.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {mod} inside {fn.name}()")
    assert not hidden, "move these imports to the top of their module:\n" + "\n".join(hidden)
