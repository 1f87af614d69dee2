"""Loopback networking for the processes the harness starts: a free port, HTTP GETs."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5) -> str:
    """The body of a GET; an OSError (urllib.error.URLError, HTTPError) when it fails."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body.decode()


def http_get_or_none(url: str, timeout: float = 5) -> str | None:
    """The body of a GET answered 200, or None (refused, an error status, a timeout)."""
    try:
        return http_get(url, timeout)
    except OSError:
        return None


def answers(url: str, timeout: float = 1) -> bool:
    """Whether a GET of `url` is answered 200 (a health or readiness endpoint)."""
    return http_get_or_none(url, timeout) is not None


def http_json(url: str, data: bytes | None = None, timeout: float = 5) -> Any:
    """GET (or, with `data`, POST) and parse the JSON answer."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())
