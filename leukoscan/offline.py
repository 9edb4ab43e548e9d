"""The one answer to "may we use the network?": :func:`offline` and a fast reachability probe.

Offline is declared by any of ``LEUKOSCAN_OFFLINE``, ``YOLO_OFFLINE``, ``HF_HUB_OFFLINE``
set to a true value (anything but empty, ``0``, ``false``, ``no``). Code that would
download (pretrained weights, datasets) asks :func:`offline` first, then probes the host
with :func:`unreachable` (a TCP connect, a few seconds at most, never a hang).
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse

OFFLINE_VARS = ("LEUKOSCAN_OFFLINE", "YOLO_OFFLINE", "HF_HUB_OFFLINE")
_FALSE = ("", "0", "false", "no", "off")
_PROBES: dict[tuple[str, int], str | None] = {}


def offline_var() -> str | None:
    """The name of the environment variable that declares us offline, if any."""
    for var in OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() not in _FALSE:
            return var
    return None


def offline() -> bool:
    """True when the environment declares LeukoScan offline (see the module docstring)."""
    return offline_var() is not None


def unreachable(host_or_url: str, port: int | None = None, timeout: float = 3.0) -> str | None:
    """None when a TCP connection to the host opens within ``timeout`` s, else why not.

    Takes a host name or a URL; the answer is cached per host and port for the process.
    The probe runs in a thread, so a stuck DNS lookup cannot block past ``timeout``.
    """
    u = urlparse(host_or_url if "//" in host_or_url else f"//{host_or_url}")
    host = u.hostname or host_or_url
    port = port or u.port or (80 if u.scheme == "http" else 443)
    if (host, port) not in _PROBES:
        result: list[str | None] = []

        def probe() -> None:
            try:
                socket.create_connection((host, port), timeout=timeout).close()
                result.append(None)
            except OSError as e:
                result.append(f"network unreachable ({e.__class__.__name__}: {e})")

        t = threading.Thread(target=probe, daemon=True)
        t.start()
        t.join(timeout + 0.5)
        _PROBES[(host, port)] = result[0] if result else f"{host}: no answer in {timeout:g} s"
    return _PROBES[(host, port)]


def reachable(host_or_url: str, port: int | None = None, timeout: float = 3.0) -> bool:
    return unreachable(host_or_url, port, timeout) is None
