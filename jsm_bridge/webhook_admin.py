"""`jsm-bridge register-webhook`: registers (or updates) the Jira admin webhook that feeds the receiver.

One webhook, found by its URL: its events are the issue and comment events the receiver handles, its
JQL filter the policies' scopes OR-ed together, its secret JSM_BRIDGE_WEBHOOK_SECRET."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import requests

WEBHOOK_PATH = "/rest/webhooks/1.0/webhook"
ISSUE_FILTER = "issue-related-events-section"
RECEIVER_PATH = "/webhooks/jira"
DEFAULT_NAME = "jsm-bridge"
URL_ENV = "JSM_BRIDGE_WEBHOOK_URL"
SECRET_ENV = "JSM_BRIDGE_WEBHOOK_SECRET"
MASK = "********"

# The events the receiver handles (webhooks/events.py HANDLERS); everything else would be ignored.
EVENTS = (
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
)


class RegistrationError(Exception):
    """Jira refused or could not be reached; the message says what Jira said and what to check."""


@dataclass(frozen=True)
class Registration:
    """The webhook as Jira's admin API takes it."""

    url: str
    jql: str
    secret: str | None = field(default=None, repr=False)
    name: str = DEFAULT_NAME
    events: tuple[str, ...] = EVENTS

    def body(self, *, masked: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "url": self.url,
            "events": list(self.events),
            "filters": {ISSUE_FILTER: self.jql},
            "excludeBody": False,
        }
        if self.secret:
            body["secret"] = MASK if masked else self.secret
        return body


@dataclass(frozen=True)
class Request:
    """One call to Jira: what --dry-run prints, and what register() sends."""

    method: str
    url: str
    body: dict[str, Any]


def scope_jql(scopes: Sequence[str]) -> str:
    """The policies' scope JQLs OR-ed together (each in parentheses, duplicates once, order kept)."""
    unique = list(dict.fromkeys(s.strip() for s in scopes if s and s.strip()))
    if len(unique) == 1:
        return unique[0]
    return " OR ".join(f"({jql})" for jql in unique)


def receiver_url(url: str) -> str:
    """The receiver's public URL, with /webhooks/jira added when only a site is given."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise RegistrationError(f"webhook URL {url!r} must start with https:// (or http:// for a local test)")
    if not url.endswith(RECEIVER_PATH):
        url += RECEIVER_PATH
    return url


class WebhookAdmin:
    """Jira's admin webhook API on one site, through an authenticated requests session (the seam)."""

    def __init__(self, site: str, session: requests.Session, timeout: float = 30.0) -> None:
        self.site = site.rstrip("/")
        self.session = session
        self.timeout = timeout

    def existing(self, url: str) -> dict[str, Any] | None:
        """The registered webhook whose URL is `url` (ignoring a trailing slash), or None."""
        wanted = url.rstrip("/")
        for webhook in self._call("GET", self.site + WEBHOOK_PATH) or []:
            if isinstance(webhook, Mapping) and str(webhook.get("url", "")).rstrip("/") == wanted:
                return dict(webhook)
        return None

    def plan(self, registration: Registration, *, masked: bool = False) -> Request:
        """POST a new webhook, or PUT over the one already registered for this URL."""
        found = self.existing(registration.url)
        body = registration.body(masked=masked)
        if found is None:
            return Request("POST", self.site + WEBHOOK_PATH, body)
        webhook_id = str(found.get("self", "")).rstrip("/").rsplit("/", 1)[-1]
        if not webhook_id:
            raise RegistrationError(f"Jira listed a webhook for {registration.url} without its self URL")
        return Request("PUT", f"{self.site}{WEBHOOK_PATH}/{webhook_id}", body)

    def register(self, registration: Registration) -> tuple[str, dict[str, Any]]:
        """Create or update the webhook; ("created" or "updated", Jira's answer)."""
        request = self.plan(registration)
        answer = self._call(request.method, request.url, request.body)
        return (
            "created" if request.method == "POST" else "updated",
            answer if isinstance(answer, dict) else {},
        )

    def _call(self, method: str, url: str, body: Mapping[str, Any] | None = None) -> Any:
        try:
            response = self.session.request(method, url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise RegistrationError(f"cannot reach Jira at {self.site}: {type(exc).__name__}") from exc
        if response.status_code in (401, 403):
            raise RegistrationError(
                f"Jira refused {method} {WEBHOOK_PATH} ({response.status_code}): registering webhooks needs a "
                "Jira administrator; check JSM_BRIDGE_JIRA_USER and JSM_BRIDGE_JIRA_TOKEN"
            )
        if response.status_code >= 400:
            raise RegistrationError(
                f"Jira answered {response.status_code} to {method} {WEBHOOK_PATH}: {_jira_messages(response)}"
            )
        return response.json() if response.content else None


def _jira_messages(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300] or response.reason
    if isinstance(data, dict):
        parts = list(data.get("errorMessages") or []) + [
            f"{k}: {v}" for k, v in (data.get("errors") or {}).items()
        ]
        if parts:
            return "; ".join(str(p) for p in parts)
    return json.dumps(data)[:300]


def session_from_env(env: Mapping[str, str]) -> tuple[str, requests.Session]:
    """The Jira site and an authenticated session from JSM_BRIDGE_JIRA_URL, _USER and _TOKEN."""
    from jsm_bridge.jira.config import JiraConfig

    config = JiraConfig.from_env(env)
    session = requests.Session()
    session.headers.update({"Accept": "application/json", "User-Agent": "jsm-bridge register-webhook"})
    if config.auth_kind == "basic":
        session.auth = (config.user or "", config.token or "")
    elif config.token:
        session.headers["Authorization"] = f"Bearer {config.token}"
    return config.url, session


# -- the command ----------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", help=f"the receiver's public URL (default: ${URL_ENV}); /webhooks/jira is added"
    )
    parser.add_argument(
        "--name", default=DEFAULT_NAME, help="the webhook's name in Jira (default: %(default)s)"
    )
    parser.add_argument(
        "--policies", help="policy files or folders, ':'-separated (default: $JSM_BRIDGE_POLICIES)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the request it would send (secret masked), send nothing"
    )


def run(args: argparse.Namespace, env: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    env = os.environ if env is None else env
    out = out or sys.stdout
    try:
        registration = registration_from(args, env)
        site, session = session_from_env(env)
        admin = WebhookAdmin(site, session)
        if args.dry_run:
            request = admin.plan(registration, masked=True)
            print(f"{request.method} {request.url}", file=out)
            print(json.dumps(request.body, indent=2, ensure_ascii=False), file=out)
            return 0
        outcome, answer = admin.register(registration)
    except RegistrationError as exc:
        print(f"register-webhook: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # configuration (ConfigError) or policy problems
        print(f"register-webhook: {exc}", file=sys.stderr)
        return 1
    signed = "signed with JSM_BRIDGE_WEBHOOK_SECRET" if registration.secret else "UNSIGNED (no secret set)"
    print(
        f"{outcome} webhook {answer.get('self', '')} -> {registration.url}\n"
        f"  events: {', '.join(registration.events)}\n  filter: {registration.jql or '(all issues)'}\n  {signed}",
        file=out,
    )
    return 0


def registration_from(args: argparse.Namespace, env: Mapping[str, str]) -> Registration:
    from jsm_bridge.policy.loader import load_policies

    url = args.url or env.get(URL_ENV)
    if not url:
        raise RegistrationError(f"no receiver URL: pass --url or set {URL_ENV}")
    spec = args.policies or env.get("JSM_BRIDGE_POLICIES")
    if not spec:
        raise RegistrationError(
            "no policies: pass --policies or set JSM_BRIDGE_POLICIES (the filter comes from their scopes)"
        )
    policies = load_policies(spec)
    if not policies:
        raise RegistrationError(f"no policy files found in {spec}")
    return Registration(
        url=receiver_url(url),
        jql=scope_jql([p.spec.scope.jql for p in policies]),
        secret=env.get(SECRET_ENV) or None,
        name=args.name,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="register_webhook", description=__doc__.split("\n\n")[0])
    configure(parser)
    return run(parser.parse_args(argv))
