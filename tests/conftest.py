"""Shared fixtures: no network, and a device parameter that covers CUDA when
present."""

from __future__ import annotations

import pytest
import torch

from .kernel_offline import NetworkBlocked, block

__all__ = ["NetworkBlocked"]


@pytest.fixture(autouse=True, scope="session")
def block_network():
    """Every test runs with sockets limited to loopback (the site test serves on
    127.0.0.1)."""
    undo = block("tests")
    yield
    undo()


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    return torch.device(request.param)


@pytest.fixture(scope="session")
def l2l():
    """learn2learn, for parity tests. Skipped locally if absent; under CI its
    absence is a failure."""
    import os
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import learn2learn
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(
                f"learn2learn is not installed ({exc}); run "
                "scripts/install_learn2learn.sh"
            )
        pytest.skip(
            "learn2learn is not installed "
            "(scripts/install_learn2learn.sh installs it)"
        )
    return learn2learn
