"""Seed every random number generator the course uses."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and torch (CPU and GPU) and ask for reproducible kernels; return the seed.

    On CUDA, TF32 is switched off for matrix products and convolutions (it is on by default
    for cuDNN and changes results in the third decimal) and cuDNN is asked for deterministic
    algorithms, so a lesson's numbers on a GPU match its CPU numbers to the printed precision
    wherever the operations allow it.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    return seed
