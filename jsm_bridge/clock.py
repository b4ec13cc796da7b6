"""Clocks injected wherever time is needed: the system clock, a manual clock for tests and simulation.

Logic never reads the time itself; it is given a Clock (or an instant) by its caller."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, time-zone aware."""
        ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: for tests, the simulator and the sandbox's fast-forward."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a time-zone-aware start")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("ManualClock.set needs a time-zone-aware instant")
        with self._lock:
            self._now = instant

    def advance(self, by: timedelta) -> datetime:
        with self._lock:
            self._now = self._now + by
            return self._now
