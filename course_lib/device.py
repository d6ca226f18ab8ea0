"""Pick the compute device: CUDA, then Apple MPS, then CPU. Never returns nothing."""

from __future__ import annotations

import os
import platform

import torch


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device, or ``prefer`` (or $COURSE_DEVICE) if it is usable."""
    prefer = prefer or os.environ.get("COURSE_DEVICE")
    if prefer:
        dev = torch.device(prefer)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("COURSE_DEVICE asks for CUDA but no CUDA GPU is visible")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device | None = None) -> str:
    """One line naming the device, for the top of each notebook."""
    device = device or get_device()
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return f"Device: cuda ({name})"
    if device.type == "mps":
        return f"Device: mps (Apple {platform.machine()})"
    return f"Device: cpu ({torch.get_num_threads()} threads)"


def model_device(model: torch.nn.Module) -> torch.device:
    """The device a module's parameters (or, failing that, buffers) live on; CPU if it has none."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")
