"""Shared fixtures: no network, and a device parameter that covers CUDA when present."""

from __future__ import annotations

import ipaddress
import socket

import pytest
import torch


class NetworkBlocked(RuntimeError):
    """Raised when test code tries to reach a non-loopback address."""


def _is_local(address: object) -> bool:
    if not isinstance(address, tuple):  # unix socket path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: not allowed


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self, address):
    if not _is_local(address):
        raise NetworkBlocked(f"tests run offline: connection to {address!r} was blocked")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_local(address):
        raise NetworkBlocked(f"tests run offline: connection to {address!r} was blocked")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost") and not _is_local((host, 0)):
        raise NetworkBlocked(f"tests run offline: name lookup of {host!r} was blocked")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def block_network():
    """Every test runs with sockets limited to loopback (the site test serves on 127.0.0.1)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", _guarded_connect)
    mp.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    mp.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    yield
    mp.undo()


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    return torch.device(request.param)


@pytest.fixture(scope="session")
def l2l():
    """learn2learn, for parity tests. Skipped locally if absent; under CI its absence is a failure."""
    import os
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import learn2learn
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"learn2learn is not installed ({exc}); run scripts/install_learn2learn.sh")
        pytest.skip("learn2learn is not installed (scripts/install_learn2learn.sh installs it)")
    return learn2learn
