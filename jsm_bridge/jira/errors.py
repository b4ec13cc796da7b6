"""Every way talking to Jira can fail, as one exception tree: nothing from requests or the library escapes.

The tree (httpx style); `retryable` says whether the same call may succeed later::

    JiraError                        base: anything that went wrong talking to Jira
     ├── JiraUnavailable             connection refused or reset, timeout, 5xx answer       retryable
     ├── RateLimited                 429: Jira asks us to slow down (retry_after, reason,   retryable
     │                               scope); beyond the caller's bound it is raised as is
     ├── JiraRefused                 any other 4xx answer: repeating the call will not help
     │    ├── BadRequest             400, with Jira's errorMessages and errors
     │    ├── AuthenticationFailed   401 or 403: names the user and the site, never the token
     │    └── NotFound               404: no such issue, property or resource (or no permission to see it)
     ├── TransitionNotAvailable      no transition of this issue leads to the wanted status; lists those that do exist
     └── FieldNotFound               a field name or id that this Jira site does not know

Each error carries the ticket key (when there is one) and a message saying what to do next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class JiraError(Exception):
    """Base of every gateway error."""

    retryable: bool = False

    def __init__(self, message: str, *, ticket: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.ticket = ticket
        self.retry_after = retry_after


class JiraUnavailable(JiraError):
    """Jira could not be reached, timed out, or answered 5xx. `status` is None for connection errors."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        ticket: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, ticket=ticket, retry_after=retry_after)
        self.status = status


class RateLimited(JiraError):
    """Jira answered 429. `reason` is its RateLimit-Reason header, `scope` what waits:
    "endpoint" (jira-burst-based), "issue" (jira-per-issue-on-write) or "site" (quotas, unknown reasons)."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        reason: str | None,
        scope: str,
        ticket: str | None = None,
    ) -> None:
        super().__init__(message, ticket=ticket, retry_after=retry_after)
        self.reason = reason
        self.scope = scope


class JiraRefused(JiraError):
    """Jira answered with a 4xx status: the request itself is wrong, or not allowed."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        ticket: str | None = None,
        error_messages: Sequence[str] = (),
        errors: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, ticket=ticket)
        self.status = status
        self.error_messages = tuple(error_messages)
        self.errors = dict(errors or {})


class BadRequest(JiraRefused):
    """400: Jira rejected the request's content; `error_messages` and `errors` say why."""


class AuthenticationFailed(JiraRefused):
    """401 or 403: the credentials are wrong, expired, or lack a permission."""


class NotFound(JiraRefused):
    """404: the issue or resource does not exist, or the user may not see it."""


class TransitionNotAvailable(JiraError):
    """No transition of the issue, in its current status, has the wanted name or target status."""

    def __init__(
        self, ticket: str, wanted: str, current_status: str | None, available: Sequence[str]
    ) -> None:
        listed = ", ".join(available) if available else "none"
        super().__init__(
            f"{ticket}: no transition to {wanted!r} from status {current_status!r}; available: {listed}. "
            "Check the status or transition name in the policy against the project's workflow.",
            ticket=ticket,
        )
        self.wanted = wanted
        self.current_status = current_status
        self.available = tuple(available)


class FieldNotFound(JiraError):
    """A field name or id that the site's field list does not contain."""

    def __init__(self, name: str, *, ticket: str | None = None, suggestions: Sequence[str] = ()) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"Jira has no field named or with id {name!r}.{hint} "
            "Map the policy's field name to its Jira id under `fields:` in the policy.",
            ticket=ticket,
        )
        self.name = name
        self.suggestions = tuple(suggestions)


__all__ = [
    "AuthenticationFailed",
    "BadRequest",
    "FieldNotFound",
    "JiraError",
    "JiraRefused",
    "JiraUnavailable",
    "NotFound",
    "RateLimited",
    "TransitionNotAvailable",
]
