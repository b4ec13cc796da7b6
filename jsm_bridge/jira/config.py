"""How the gateway reaches Jira: site, credentials, flavour, pacing and retry bounds, read from the environment.

The token is kept out of repr() and log lines: JiraConfig shows the user and URL only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Flavor = Literal["cloud", "datacenter"]
CLOUD: Flavor = "cloud"
DATA_CENTER: Flavor = "datacenter"

_TRUE = {"1", "true", "yes", "on"}
_FLAVORS: dict[str, Flavor] = {
    "cloud": CLOUD,
    "datacenter": DATA_CENTER,
    "data-center": DATA_CENTER,
    "dc": DATA_CENTER,
    "server": DATA_CENTER,
}


class ConfigError(ValueError):
    """The environment does not describe a usable Jira connection."""


@dataclass(frozen=True)
class JiraConfig:
    """Connection settings. `flavor` None means: ask /rest/api/2/serverInfo on first use.

    Cloud: `user` is the account's email and `token` an API token. Data Center: a personal access
    token alone (no `user`), or `user` with a password in `token`.
    """

    url: str
    user: str | None = None
    token: str | None = field(default=None, repr=False)
    flavor: Flavor | None = None
    dry_run: bool = False
    timeout: float = 30.0  # seconds, on every HTTP call
    requests_per_second: float = 10.0  # the site's shared budget
    burst: int = 10
    max_retry_after: float = 60.0  # longest Retry-After a read waits before RateLimited is raised
    read_attempts: int = 4  # attempts per read on connection errors and 5xx
    backoff_initial: float = 0.5  # seconds before the first retry of a read; doubles, with jitter
    backoff_max: float = 8.0

    def __post_init__(self) -> None:
        if not self.url:
            raise ConfigError(
                "JSM_BRIDGE_JIRA_URL is empty: set it to the site, e.g. https://example.atlassian.net"
            )
        object.__setattr__(self, "url", self.url.rstrip("/"))

    @property
    def auth_kind(self) -> str:
        """How requests are signed: basic (user and token or password) or bearer (a personal access token)."""
        return "basic" if self.user else "bearer"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JiraConfig:
        """Read JSM_BRIDGE_JIRA_URL, _USER, _TOKEN, JSM_BRIDGE_DRY_RUN, and the optional
        JSM_BRIDGE_JIRA_FLAVOR (cloud or datacenter), JSM_BRIDGE_JIRA_RATE (requests per second),
        JSM_BRIDGE_JIRA_TIMEOUT and JSM_BRIDGE_JIRA_MAX_RETRY_AFTER (seconds)."""
        env = os.environ if environ is None else environ
        url = env.get("JSM_BRIDGE_JIRA_URL", "").strip()
        if not url:
            raise ConfigError("JSM_BRIDGE_JIRA_URL is not set: set it to the Jira site's base URL")
        flavor_text = env.get("JSM_BRIDGE_JIRA_FLAVOR", "").strip().lower()
        flavor: Flavor | None = None
        if flavor_text:
            if flavor_text not in _FLAVORS:
                raise ConfigError(
                    f"JSM_BRIDGE_JIRA_FLAVOR={flavor_text!r} is not known: use cloud or datacenter"
                )
            flavor = _FLAVORS[flavor_text]
        return cls(
            url=url,
            user=env.get("JSM_BRIDGE_JIRA_USER") or None,
            token=env.get("JSM_BRIDGE_JIRA_TOKEN") or None,
            flavor=flavor,
            dry_run=env.get("JSM_BRIDGE_DRY_RUN", "").strip().lower() in _TRUE,
            requests_per_second=_number(env, "JSM_BRIDGE_JIRA_RATE", 10.0),
            timeout=_number(env, "JSM_BRIDGE_JIRA_TIMEOUT", 30.0),
            max_retry_after=_number(env, "JSM_BRIDGE_JIRA_MAX_RETRY_AFTER", 60.0),
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0, not {text}")
    return value
