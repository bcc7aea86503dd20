"""The tests and the executed notebooks really are offline."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import NetworkBlocked

ROOT = Path(__file__).resolve().parents[1]


def test_outside_connections_are_blocked():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        with pytest.raises(NetworkBlocked, match=r"192\.0\.2\.1"):
            s.connect(("192.0.2.1", 80))  # TEST-NET-1: never reached either way


def test_name_lookups_are_blocked():
    with pytest.raises(NetworkBlocked, match=r"pypi\.org"):
        socket.getaddrinfo("pypi.org", 443)


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with socket.socket() as client:
        client.connect(server.getsockname())
    server.close()


def test_notebook_kernels_are_blocked_too():
    """tests/kernel_offline.py (an IPython startup file for nbval and the quick
    build) blocks the network."""
    code = (
        f"exec(open({str(ROOT / 'tests' / 'kernel_offline.py')!r}).read())\n"
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
        "except RuntimeError as e:\n"
        "    print('blocked:', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert "blocked: notebooks run offline" in out.stdout, (
        out.stdout + out.stderr
    )
