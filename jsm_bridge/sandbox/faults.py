"""Fault injection: the sandbox answering the way a busy or broken Jira does, repeatably (seeded).

Faults apply to Jira's paths (/rest/...) only; the sandbox's own /_sandbox/ controls always answer."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

RATE_LIMIT_REASONS = ("jira-burst-based", "jira-per-issue-on-write", "jira-quota-tenant-based")


@dataclass
class Faults:
    """Shares are probabilities in [0, 1], drawn from a generator seeded with `seed`.

    - `rate_limit`: answer 429 with `Retry-After: retry_after` and `RateLimit-Reason: rate_limit_reason`.
    - `server_error` / `unavailable`: answer 500 / 503 (a 503 carries Retry-After too).
    - `slow` with `delay_ms`: hold the answer that long (`slow` defaults to every request).
    - `outage_until`: every request answers 503 until the sandbox clock reaches this instant.
    - `webhook_drop` / `webhook_duplicate`: lose a webhook delivery, or deliver it twice.
    - `path`: a regular expression; when set, only matching paths get request faults.
    - `search_lag_seconds`: searches show an issue as it was before changes made less than this long ago
      (sandbox clock), and leave out issues created that recently, as Cloud's eventually consistent
      search does. Reading the issue itself always gives its current state.
    """

    rate_limit: float = 0.0
    retry_after: int = 1
    rate_limit_reason: str = "jira-burst-based"
    server_error: float = 0.0
    unavailable: float = 0.0
    slow: float = 1.0
    delay_ms: int = 0
    outage_until: datetime | None = None
    webhook_drop: float = 0.0
    webhook_duplicate: float = 0.0
    path: str | None = None
    search_lag_seconds: float = 0.0
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outage_until"] = self.outage_until.isoformat() if self.outage_until else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], base: Faults | None = None) -> Faults:
        """Faults from a JSON object; keys not given keep `base`'s values. Unknown keys raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"unknown fault setting(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
            )
        values = asdict(base) if base else {}
        values.update(data)
        if isinstance(values.get("outage_until"), str):
            values["outage_until"] = datetime.fromisoformat(values["outage_until"])
        return cls(**values)


@dataclass(frozen=True)
class Verdict:
    """What to do with one request: answer `status` with `headers` (None: answer normally) after `delay_ms`."""

    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay_ms: int = 0


class FaultInjector:
    """Draws, under a lock, from one seeded generator so a run's faults repeat with the same seed."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self.listeners: list[Callable[[Faults], None]] = []  # told of every new configuration
        self.configure(faults or Faults())

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._random = random.Random(faults.seed)
            self._path = re.compile(faults.path) if faults.path else None
        for listener in self.listeners:
            listener(faults)

    def request(self, path: str, now: datetime) -> Verdict:
        with self._lock:
            faults = self.faults
            if faults.outage_until is not None and now < faults.outage_until:
                seconds = max(1, int((faults.outage_until - now).total_seconds()))
                return Verdict(503, (("Retry-After", str(seconds)),))
            if self._path is not None and not self._path.search(path):
                return Verdict()
            delay = faults.delay_ms if faults.delay_ms and self._random.random() < faults.slow else 0
            draw = self._random.random()
            if draw < faults.rate_limit:
                headers = (
                    ("Retry-After", str(faults.retry_after)),
                    ("RateLimit-Reason", faults.rate_limit_reason),
                )
                return Verdict(429, headers, delay)
            draw -= faults.rate_limit
            if draw < faults.server_error:
                return Verdict(500, (), delay)
            draw -= faults.server_error
            if draw < faults.unavailable:
                return Verdict(503, (("Retry-After", str(faults.retry_after)),), delay)
            return Verdict(None, (), delay)

    def webhook_copies(self) -> int:
        """How many times to send one webhook: 0 (dropped), 1, or 2 (duplicated)."""
        with self._lock:
            if self._random.random() < self.faults.webhook_drop:
                return 0
            if self._random.random() < self.faults.webhook_duplicate:
                return 2
            return 1
