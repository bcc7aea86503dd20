"""IPython startup file: notebooks executed by the tests cannot reach the network.

The Makefile copies this into a private IPYTHONDIR's startup folder before running
nbval and the quick site build, so every kernel starts with sockets limited to
loopback (kernels talk to Jupyter over loopback). A chapter that tries to download
anything fails with NetworkBlocked instead of quietly depending on the internet.
"""

import ipaddress
import socket


class NetworkBlocked(RuntimeError):
    pass


def _is_local(address):
    if not isinstance(address, tuple):
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _wrap(real):
    def guarded(self, address):
        if not _is_local(address):
            raise NetworkBlocked(f"notebooks run offline: connection to {address!r} was blocked")
        return real(self, address)
    return guarded


_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost") and not _is_local((host, 0)):
        raise NetworkBlocked(f"notebooks run offline: name lookup of {host!r} was blocked")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _wrap(socket.socket.connect)
socket.socket.connect_ex = _wrap(socket.socket.connect_ex)
socket.getaddrinfo = _getaddrinfo
