"""`kubectl get -o json --watch` prints one indented JSON document per change, back to back:
this splits the stream into documents as the text arrives."""

from __future__ import annotations

import json
from typing import Any


class JsonStream:
    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()

    def feed(self, text: str) -> list[Any]:
        """The documents completed by `text` (a partial one waits for more)."""
        self._buffer += text
        found: list[Any] = []
        while True:
            rest = self._buffer.lstrip()
            if not rest:
                self._buffer = ""
                return found
            try:
                value, end = self._decoder.raw_decode(rest)
            except ValueError:
                self._buffer = rest
                return found
            found.append(value)
            self._buffer = rest[end:]
