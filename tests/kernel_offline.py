"""Network blocking for the tests and for the notebooks they execute.

Used twice, one implementation:

* ``tests/conftest.py`` imports :func:`block` and applies it to the pytest
  process;
* the Makefile copies this file into a private IPYTHONDIR's startup folder
  before running nbval and the quick site build, so every notebook kernel
  executes it (as a script) and starts with the network blocked.

Sockets stay usable for loopback addresses (kernels talk to Jupyter over
loopback, and the site test serves pages on 127.0.0.1); anything else, and any
name lookup other than ``localhost``, raises :class:`NetworkBlocked`. A chapter
that tries to download something fails loudly instead of quietly depending on
the internet.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable


class NetworkBlocked(RuntimeError):
    """Raised when code tries to reach a non-loopback address."""


def _is_local(address: object) -> bool:
    if not isinstance(address, tuple):  # unix socket path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # any other host name would need DNS


def block(who: str = "tests") -> Callable[[], None]:
    """Limit sockets to loopback; returns a function that undoes it."""
    real_connect, real_connect_ex = (
        socket.socket.connect,
        socket.socket.connect_ex,
    )
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if not _is_local(address):
            raise NetworkBlocked(
                f"{who} run offline: connection to {address!r} was blocked"
            )
        return real_connect(self, address)

    def connect_ex(self, address):
        if not _is_local(address):
            raise NetworkBlocked(
                f"{who} run offline: connection to {address!r} was blocked"
            )
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in (None, "localhost") and not _is_local((host, 0)):
            raise NetworkBlocked(
                f"{who} run offline: name lookup of {host!r} was blocked"
            )
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = (
        connect,
        connect_ex,
        getaddrinfo,
    )

    def undo() -> None:
        socket.socket.connect, socket.socket.connect_ex = (
            real_connect,
            real_connect_ex,
        )
        socket.getaddrinfo = real_getaddrinfo

    return undo


if __name__ != "tests.kernel_offline":  # executed as an IPython startup file
    block("notebooks")
