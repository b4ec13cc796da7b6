"""Pacing requests to one Jira site: a shared token bucket, and pauses by scope after a 429.

Every worker and the sweeper of a process hold the same SiteBudget for a site (see `budget_for_site`),
so together they stay under the budget; the clock and the sleep function are injected."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from jsm_bridge.clock import Clock, SystemClock
from jsm_bridge.jira.errors import RateLimited

# Scopes a pause applies to, from the 429's RateLimit-Reason header.
SCOPE_ENDPOINT = "endpoint"  # jira-burst-based: this endpoint and method only
SCOPE_ISSUE = "issue"  # jira-per-issue-on-write: writes to this issue only
SCOPE_SITE = "site"  # quotas and anything unknown: every request to the site

_SCOPE_BY_REASON = {
    "jira-burst-based": SCOPE_ENDPOINT,
    "jira-per-issue-on-write": SCOPE_ISSUE,
}


def scope_for_reason(reason: str | None) -> str:
    """The scope a 429 pauses: burst limits pause one endpoint, per-issue limits one issue, the rest the site."""
    if reason is None:
        return SCOPE_SITE
    return _SCOPE_BY_REASON.get(reason.strip().lower(), SCOPE_SITE)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class Request:
    """What the budget needs to know about one request."""

    method: str
    endpoint: str  # the path template, e.g. rest/api/2/issue/{key}
    issue: str | None = None

    @property
    def is_write(self) -> bool:
        return self.method.upper() not in {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class _Pause:
    until: datetime
    reason: str | None
    scope: str


class SiteBudget:
    """A token bucket of `rate` requests per second (up to `burst` at once) plus scoped pauses. Thread-safe."""

    def __init__(
        self,
        rate: float = 10.0,
        burst: int = 10,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a site budget needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock: Clock = clock or SystemClock()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._stamp = self._clock.now()
        self._pauses: dict[tuple[str, ...], _Pause] = {}

    def acquire(self, request: Request, max_wait: float | None = None) -> float:
        """Block until `request` may go: no pause covers it and a token is free. Returns the seconds waited.

        Raises RateLimited without waiting when a pause covering it lasts longer than `max_wait`."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock.now()
                pause = self._pause_for(request, now)
                if pause is not None:
                    wait = (pause.until - now).total_seconds()
                    if max_wait is not None and wait > max_wait:
                        raise RateLimited(
                            f"Jira asked to pause {pause.scope} requests for {wait:.0f}s more "
                            f"(reason {pause.reason or 'unknown'}), longer than the {max_wait:.0f}s allowed",
                            retry_after=wait,
                            reason=pause.reason,
                            scope=pause.scope,
                            ticket=request.issue,
                        )
                else:
                    self._refill(now)
                    if self._tokens >= 1.0:
                        self._tokens -= 1.0
                        return waited
                    wait = (1.0 - self._tokens) / self.rate
            self._sleep(wait)
            waited += wait

    def pause(self, request: Request, seconds: float, reason: str | None) -> str:
        """After a 429 (or a 503 with Retry-After): hold back the scope named by `reason`. Returns the scope."""
        scope = scope_for_reason(reason)
        with self._lock:
            until = self._clock.now() + timedelta(seconds=max(0.0, seconds))
            key = self._scope_key(scope, request)
            current = self._pauses.get(key)
            if current is None or current.until < until:
                self._pauses[key] = _Pause(until=until, reason=reason, scope=scope)
        return scope

    def paused_for(self, request: Request) -> float:
        """Seconds until `request` is no longer paused (0 when it is not)."""
        with self._lock:
            now = self._clock.now()
            pause = self._pause_for(request, now)
            return 0.0 if pause is None else (pause.until - now).total_seconds()

    def _refill(self, now: datetime) -> None:
        elapsed = max(0.0, (now - self._stamp).total_seconds())
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._stamp = now

    def _pause_for(self, request: Request, now: datetime) -> _Pause | None:
        keys = [("site",), ("endpoint", request.method.upper(), request.endpoint)]
        if request.is_write and request.issue:
            keys.append(("issue", request.issue))
        longest: _Pause | None = None
        for key in keys:
            pause = self._pauses.get(key)
            if pause is None:
                continue
            if pause.until <= now:
                del self._pauses[key]
                continue
            if longest is None or pause.until > longest.until:
                longest = pause
        return longest

    @staticmethod
    def _scope_key(scope: str, request: Request) -> tuple[str, ...]:
        if scope == SCOPE_ENDPOINT:
            return ("endpoint", request.method.upper(), request.endpoint)
        if scope == SCOPE_ISSUE and request.issue:
            return ("issue", request.issue)
        return ("site",)


_SITES: dict[str, SiteBudget] = {}
_SITES_LOCK = threading.Lock()


def budget_for_site(url: str, rate: float = 10.0, burst: int = 10) -> SiteBudget:
    """The process's one budget for a Jira site, created on first use: gateways built separately share it."""
    key = url.rstrip("/").lower()
    with _SITES_LOCK:
        budget = _SITES.get(key)
        if budget is None:
            budget = _SITES[key] = SiteBudget(rate, burst)
        return budget
