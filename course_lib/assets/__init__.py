"""One registry of every model and data set the course uses, verified offline.

Each asset names where it comes from (an installed PyPI package, or a file
committed under ``data/``), its licence, its size and its sha256. ``path(name)``
returns a verified local path; a missing or corrupt asset raises one
:class:`AssetError` that names the package and the exact command to install it.
Nothing here downloads anything.

A file listed in an asset is checked one of three ways, by the form of its key:

- ``"dir/file.ext"``: the sha256 of the file's bytes;
- ``"dir/folder/"`` (a trailing slash): a folder of many files, checked through one sha256
  over its sorted manifest, the lines ``"<relative path>\t<sha256 of the file>\n"`` of every
  file under it (``__pycache__`` left out);
- ``"dir/module.py#NAME"``: the sha256 of ``"\n".join(NAME) + "\n"``, where ``NAME`` is a
  list of strings assigned in that Python file (read with ``ast``, never imported): for data
  that lives inside a package's code, checked without pinning the rest of the file.

Each file's sha256 is computed once per process and reused while its (path, size, mtime)
stays the same, so verifying an asset a second time costs only ``stat`` calls.

The committed assets (``data/manifest.json``) are found in the course checkout: the folder
named by the environment variable ``COURSE_ROOT`` if set, else the checkout that holds this
package (an editable install or ``PYTHONPATH``). Installed anywhere else, the package assets
still work and the committed ones raise one :class:`CheckoutError` that says so.

``python -m course_lib assets`` lists every asset with OK / FAIL and, on FAIL, the fix.

The package keeps the checkout's state (``REPO_ROOT``, ``DATA_DIR``, ``MANIFEST``) and the
functions that read it (``registry``, ``get``, ``base_dir``, ``verify``, ...) here, in one place;
:mod:`course_lib.assets.catalogue` lists the package assets and
:mod:`course_lib.assets.hashing` computes (and caches) the checksums.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import json
import os
from pathlib import Path

from course_lib.assets.catalogue import PACKAGE_ASSETS, SDIST_DIR, SETUP_HINT, Asset, pip_command
from course_lib.assets.hashing import (
    entry_sha,
    python_list,
    sha256_file,
    sha256_list,
    sha256_tree,
    split_key,
    tree_manifest,
)
from course_lib.errors import AssetError, CheckoutError

__all__ = [
    "DATA_DIR", "MANIFEST", "PACKAGE_DIR", "REPO_ROOT", "ROOT_ENV", "ROOT_PROBLEM", "SDIST_DIR", "SETUP_HINT",
    "Asset", "base_dir", "check_all", "check_packages", "course_root", "get", "missing_package", "path",
    "python_list", "registry", "sha256_file", "sha256_list", "sha256_tree", "tree_manifest", "verified_list",
    "verify",
]  # fmt: skip

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the course_lib folder
ROOT_ENV = "COURSE_ROOT"


def _find_root() -> tuple[Path, str | None]:
    """(course checkout, None) or (best guess, what is wrong); read once, at import."""
    env = os.environ.get(ROOT_ENV, "").strip()
    if env:
        root = Path(env).expanduser().resolve()
        if (root / "data" / "manifest.json").is_file():
            return root, None
        return root, (
            f"{ROOT_ENV}={env} does not name a checkout of the course repository (there is no "
            f"{root / 'data' / 'manifest.json'}). Set {ROOT_ENV} to the folder that holds data/, "
            "notebooks/ and course.py, or unset it."
        )
    root = PACKAGE_DIR.parent
    if (root / "data" / "manifest.json").is_file():
        return root, None
    return root, (
        f"course_lib is installed at {PACKAGE_DIR}, outside a checkout of the course repository, so "
        "the course's committed data (data/manifest.json, data/...) and notebooks are not beside it. "
        "Run the course from its checkout (python3 course.py lab, or pip install -e . inside the "
        f"checkout), or set the environment variable {ROOT_ENV} to the checkout's folder before "
        "importing course_lib."
    )


REPO_ROOT, ROOT_PROBLEM = _find_root()
DATA_DIR = REPO_ROOT / "data"
MANIFEST = DATA_DIR / "manifest.json"


def course_root() -> Path:
    """The course checkout (``data/``, ``notebooks/``, ``scripts/``); a :class:`CheckoutError`
    that names ``COURSE_ROOT`` when there is none."""
    if ROOT_PROBLEM:
        raise CheckoutError(ROOT_PROBLEM)
    return REPO_ROOT


def _manifest_assets() -> list[Asset]:
    """Assets committed under data/ (the data manifest lists them); none outside a checkout."""
    if not MANIFEST.is_file():
        return []
    entries = json.loads(MANIFEST.read_text())["assets"]
    out = []
    for e in entries:
        out.append(
            Asset(
                name=e["name"],
                kind=e.get("kind", "data"),
                description=e["description"],
                licence=e["licence"],
                files=e["files"],
                root=e.get("root", ""),
                size_mb=e.get("size_mb", 0.0),
                upstream=e.get("upstream"),
                install="git checkout -- data/   (the file is part of the course repository)",
                extra={k: v for k, v in e.items() if k in ("source", "counts", "made_by")},
            )
        )
    return out


def registry() -> dict[str, Asset]:
    """Every asset the course knows, by name."""
    return {a.name: a for a in PACKAGE_ASSETS + _manifest_assets()}


def get(name: str) -> Asset:
    """The registry entry for ``name``; an unknown name suggests close ones."""
    reg = registry()
    if name not in reg:
        if not MANIFEST.is_file():  # the committed assets cannot even be listed
            raise CheckoutError(f"Asset {name!r} is not a package asset, and the committed ones are missing: {ROOT_PROBLEM or f'{MANIFEST} does not exist.'}")
        close = difflib.get_close_matches(name, list(reg), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise AssetError(f"Unknown asset {name!r}.{hint} Known assets: {', '.join(sorted(reg))}.")
    return reg[name]


def missing_package(package: str, spec: str | None = None, no_deps: bool = False) -> AssetError:
    """The one error for a package that is not installed."""
    return AssetError(f"The package {package!r} is not installed. Install it with: {pip_command(spec or package, no_deps)}")


def _package_dir(asset: Asset) -> Path:
    try:
        dist = importlib.metadata.distribution(asset.package)
    except importlib.metadata.PackageNotFoundError:
        raise AssetError(
            f"Asset {asset.name!r} comes from the PyPI package {asset.package!r}, which is not installed. "
            f"Install it with: {asset.install}"
        ) from None
    return Path(dist.locate_file(""))


def base_dir(asset: Asset) -> Path:
    """The folder the asset's relative file paths start from."""
    if asset.sdist:
        return SDIST_DIR
    if asset.package:
        return _package_dir(asset)
    if ROOT_PROBLEM:
        raise CheckoutError(f"Asset {asset.name!r} is committed under data/. {ROOT_PROBLEM}")
    return DATA_DIR


def _reinstall_hint(asset: Asset, p: Path) -> str:
    """The command that puts back a corrupt file (a plain ``pip install`` would keep it)."""
    if asset.package:
        try:
            version = importlib.metadata.version(asset.package)
            return f"pip install --force-reinstall --no-deps {asset.package}=={version}   (or: {SETUP_HINT})"
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - checked before
            return asset.install
    if asset.sdist:
        return f"rm {p}, then: {asset.install}"
    return asset.install


def verify(name: str) -> Path:
    """Check every file of an asset exists and matches its sha256; return its root path."""
    asset = get(name)
    base = base_dir(asset)
    for rel, expected in asset.files.items():
        file, kind, fragment = split_key(rel)
        p = base / file
        if not (p.is_dir() if kind == "tree" else p.is_file()):
            what = "folder" if kind == "tree" else "file"
            raise AssetError(
                f"Asset {name!r}: the {what} {file} is missing from {asset.source}. Reinstall it with: {asset.install}"
            )
        actual = entry_sha(p, kind, fragment)
        if actual != expected:
            if kind == "tree":
                n = sum(1 for _ in tree_manifest(p))
                expected_n = asset.extra.get("files")
                what = f"the folder {p} ({n} files{f', expected {expected_n}' if expected_n else ''}; a file changed, was added or removed)"
            elif kind == "list":
                what = f"the list {fragment} in {p}"
            else:
                what = str(p)
            raise AssetError(
                f"Asset {name!r}: checksum mismatch for {what} (expected sha256 {expected[:12]}..., got "
                f"{actual[:12]}...). The file is corrupt or a different version. Reinstall it with: "
                f"{_reinstall_hint(asset, p)}"
            )
    return base / split_key(asset.root or next(iter(asset.files)))[0]


def path(name: str) -> Path:
    """A verified local path to the asset (a file, or a folder for multi-file models)."""
    return verify(name)


def verified_list(name: str) -> list[str]:
    """The verified list of strings of a ``"module.py#NAME"`` asset (e.g. ``"imagenet-classes"``)."""
    asset = get(name)
    (rel,) = asset.files
    file, kind, fragment = split_key(rel)
    if kind != "list":
        raise AssetError(f"Asset {name!r} is not a list in a Python file.")
    return python_list(verify(name), fragment)


def check_all() -> list[tuple[str, bool, str]]:
    """(name, ok, message) for every asset; never raises. Outside a checkout, one extra FAIL
    row, ``"data/ (committed assets)"``, says why the committed assets are not listed."""
    rows = []
    if not MANIFEST.is_file():
        rows.append(("data/ (committed assets)", False, ROOT_PROBLEM or f"{MANIFEST} does not exist."))
    for name in sorted(registry()):
        try:
            p = verify(name)
            rows.append((name, True, str(p)))
        except AssetError as e:
            rows.append((name, False, str(e)))
    return rows


def check_packages(packages: list[str] | None = None) -> list[tuple[str, bool, str]]:
    """(import name, ok, version or the fix) for the course's Python packages."""
    wanted = packages or [
        "torch", "torchvision", "transformers", "peft", "gensim", "sklearn", "skimage",
        "matplotlib", "ipywidgets", "tqdm", "pyarrow", "onnx", "gguf",
    ]  # fmt: skip
    rows = []
    for mod in wanted:
        spec = importlib.util.find_spec(mod)
        if spec is None:
            rows.append((mod, False, f"not installed: {SETUP_HINT}"))
            continue
        dist = {"sklearn": "scikit-learn", "skimage": "scikit-image"}.get(mod, mod)
        try:
            rows.append((mod, True, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((mod, True, "installed"))
    return rows
