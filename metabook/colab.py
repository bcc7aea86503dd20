"""What the second cell of every chapter does on Google Colab, after installing.

The cell (the same in every chapter; ``scripts/colab_cell.py`` writes it and
``tests/test_notebooks.py`` checks it) installs ``metabook[book]`` from the
book's repository and then calls :func:`configure`, which picks the size and
says which device the chapter will use, and how to get a GPU if there is none.
Colab's CPU needs about an hour for the longest chapters at full size, so the
quick size is the default there; one visible line in the cell,
``FULL_SIZE = True``, asks for the full size.
"""

from __future__ import annotations

import os

import torch

from . import __version__
from .device import get_device

GPU_HINT = (
    "No GPU in this runtime. For one: Runtime > Change runtime type > a GPU\n"
    "(for example T4) > Save, then Runtime > Run all."
)


def configure(full_size: bool = False) -> torch.device:
    """Select the size (``METABOOK_QUICK``) and report the device; returns it.

    Args:
        full_size: ``True`` for the website's full size, ``False`` (the
            default) for the quick size: the same code, fewer iterations.
    """
    if not isinstance(full_size, bool):
        raise TypeError(f"full_size={full_size!r} must be True or False")
    os.environ["METABOOK_QUICK"] = "0" if full_size else "1"
    device = get_device()
    size = "full" if full_size else "quick"
    print(f"metabook {__version__}: {size} size, on {device}.")
    if full_size:
        print("Full size: the numbers of the website; slow without a GPU.")
    else:
        print(
            "Quick size: every line of the chapter runs, in minutes, with\n"
            "fewer iterations. For the website's full size, set FULL_SIZE =\n"
            "True in this cell, then Runtime > Run all."
        )
    if device.type == "cpu":
        print(GPU_HINT)
    return device
