"""The course's one cache for derived results (features, predictions), in two lifetimes:

- :class:`Memo`: kept in memory for the kernel's life (what makes a slider refit instant);
- :func:`on_disk`: kept across kernels under :data:`CACHE_DIR`, each file with its sha256
  beside it, read only when the checksum matches (a truncated or altered file is recomputed).

Both are keyed by :func:`digest` of what the result was computed from. Loaded models and data
files are cached with ``functools.lru_cache`` on their loader instead: they have no inputs to
digest. Nothing a lesson asserts depends on a cache: a cold cache gives the same numbers.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from course_lib.assets import sha256_file

CACHE_DIR = Path(os.environ.get("COURSE_CACHE", Path.home() / ".cache" / "course_lib"))


def digest(*parts: Any) -> str:
    """A short sha256 of ``parts``: arrays and tensors by their bytes, shape and dtype; anything
    else by its ``repr``."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, torch.Tensor):
            p = p.detach().cpu().numpy()
        if isinstance(p, np.ndarray):
            arr = np.ascontiguousarray(p)
            h.update(arr.tobytes())
            h.update(f"{arr.shape}{arr.dtype}".encode())
        else:
            h.update(repr(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


class Memo:
    """Results kept for the kernel's life, by key."""

    def __init__(self):
        self._values: dict[Any, Any] = {}

    def get(self, key, compute: Callable[[], Any]):
        """The value stored under ``key``, computed (and stored) on the first call."""
        if key not in self._values:
            self._values[key] = compute()
        return self._values[key]

    def clear(self) -> None:
        """Forget every stored value."""
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)


def on_disk(name: str, key: str, compute: Callable[[], Any], use_cache: bool = True, directory: Path | None = None):
    """Load ``name-key.pt`` from ``directory`` (default :data:`CACHE_DIR`), or compute it and
    save it with its checksum. A missing checksum, a mismatch or an unreadable file means
    recompute, never use. A read-only cache directory only costs the saving."""
    directory = Path(directory) if directory is not None else CACHE_DIR
    path = directory / f"{name}-{key}.pt"
    checksum = path.with_suffix(".pt.sha256")
    if use_cache and path.is_file():
        try:
            if checksum.read_text().strip() != sha256_file(path):
                raise ValueError("checksum mismatch")
            return torch.load(path, weights_only=True)
        except Exception:  # noqa: BLE001 - any failure to read a cache file means recompute
            path.unlink(missing_ok=True)
            checksum.unlink(missing_ok=True)
    value = compute()
    if use_cache:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(value, tmp)
            checksum.write_text(sha256_file(tmp) + "\n")
            tmp.replace(path)
        except OSError:
            pass
    return value
