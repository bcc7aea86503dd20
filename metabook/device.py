"""Choosing a device and seeding randomness: the two things a notebook does
first."""

from __future__ import annotations

import random
import re

import numpy as np
import torch

from .errors import ConfigError, DeviceError

_DEVICE_RE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(name: str | torch.device | None = None) -> torch.device:
    """The device to run on.

    Args:
        name: ``None`` picks the best available (cuda, then mps, then cpu).
            Otherwise one of ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Returns:
        A ``torch.device``.

    Raises:
        DeviceError: if ``name`` is not a device string metabook knows, or names
            a device this machine does not have.
    """
    if name is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    text = str(name).strip().lower()
    if not _DEVICE_RE.match(text):
        raise DeviceError(
            f"unknown device {name!r}: use 'cpu', 'cuda', 'cuda:N', 'mps', "
            "or None to pick the best available"
        )
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {name!r} was asked for, but this "
                "machine has no CUDA GPU"
            )
        index = int(text.split(":")[1]) if ":" in text else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {name!r} was asked for, but only "
                f"{torch.cuda.device_count()} "
                "CUDA device(s) exist"
            )
    if text == "mps" and not _mps_available():
        raise DeviceError(
            f"device {name!r} was asked for, but MPS is not available here"
        )
    return torch.device(text)


def set_seed(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) in one place.

    Args:
        seed: an integer in ``0 .. 2**64 - 1``.

    Returns:
        A CPU ``torch.Generator`` seeded with ``seed``, for samplers that should
        draw their own reproducible stream of tasks.

    Raises:
        ConfigError: if ``seed`` is not such an integer (nothing is seeded
            then).
    """
    # Checked before anything is seeded, so a bad seed changes no generator.
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed={seed!r} must be an int")
    if not 0 <= seed < 2**64:
        raise ConfigError(
            f"seed={seed} must be in 0..2**64-1 (what torch accepts)"
        )
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
