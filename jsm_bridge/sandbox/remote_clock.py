"""RemoteClock: a bridge process following a sandbox's clock over HTTP (GET /_sandbox/clock).

Reads are cached for `cache_seconds`, so a busy bridge does not ask on every decision."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import requests


class RemoteClock:
    """Implements the Clock protocol (`now()`) by reading the sandbox's clock."""

    def __init__(self, url: str, cache_seconds: float = 0.2, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/") + "/_sandbox/clock"
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._value: datetime | None = None
        self._read_at = 0.0

    def now(self) -> datetime:
        with self._lock:
            if self._value is None or time.monotonic() - self._read_at >= self.cache_seconds:
                response = self._session.get(self.url, timeout=self.timeout)
                response.raise_for_status()
                self._value = datetime.fromisoformat(response.json()["now"])
                self._read_at = time.monotonic()
            return self._value

    def invalidate(self) -> None:
        """Forget the cached reading (after moving the sandbox's clock)."""
        with self._lock:
            self._value = None
