"""Checksums of asset files, computed once per process: a file's bytes, a folder's sorted
manifest, or a list of strings in a Python file (the three kinds of ``files`` key, see
:mod:`course_lib.assets`)."""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path

from course_lib.errors import AssetError


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_manifest(folder: Path) -> list[tuple[str, str]]:
    """Sorted (relative POSIX path, sha256) of every file under ``folder`` (``__pycache__`` left out)."""
    rows = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        rel_dir = Path(dirpath).relative_to(folder).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        rows.extend((prefix + fn, verified_sha(os.path.join(dirpath, fn))) for fn in filenames)
    return sorted(rows)


def sha256_tree(folder: Path) -> str:
    """One sha256 over a folder: over the lines ``"<path>\\t<sha256>\\n"`` of :func:`tree_manifest`."""
    return hashlib.sha256("".join(f"{rel}\t{sha}\n" for rel, sha in tree_manifest(folder)).encode()).hexdigest()


def python_list(path: Path, name: str) -> list[str]:
    """The list of strings assigned to ``name`` at the top level of a Python file (read with
    ``ast``, never imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and node.value is not None:
            value = ast.literal_eval(node.value)
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return list(value)
    raise AssetError(f"{path} has no list of strings called {name}.")


def sha256_list(items: list[str]) -> str:
    """sha256 of ``"\\n".join(items) + "\\n"``."""
    return hashlib.sha256(("\n".join(items) + "\n").encode("utf-8")).hexdigest()


_VERIFIED: dict[tuple[str, int, int], str] = {}


def verified_sha(path: Path | str) -> str:
    """:func:`sha256_file`, computed again only when the file's (path, size, mtime) changed."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_file(path)
    return _VERIFIED[key]


_VERIFIED_LISTS: dict[tuple[str, int, int, str], str] = {}


def entry_sha(p: Path, kind: str, fragment: str) -> str:
    """The sha256 of one file entry, as its kind says (see the module doc)."""
    if kind == "tree":
        return sha256_tree(p)
    if kind == "list":
        st = p.stat()
        key = (str(p), st.st_size, st.st_mtime_ns, fragment)
        if key not in _VERIFIED_LISTS:
            try:
                _VERIFIED_LISTS[key] = sha256_list(python_list(p, fragment))
            except (AssetError, SyntaxError, ValueError):
                _VERIFIED_LISTS[key] = "no list " + fragment
        return _VERIFIED_LISTS[key]
    return verified_sha(p)


def split_key(rel: str) -> tuple[str, str, str]:
    """(path, kind, fragment) of a ``files`` key: kind is "file", "tree" or "list"."""
    if rel.endswith("/"):
        return rel.rstrip("/"), "tree", ""
    if "#" in rel:
        file, fragment = rel.split("#", 1)
        return file, "list", fragment
    return rel, "file", ""
