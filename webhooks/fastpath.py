"""A WSGI layer in front of the Flask app that answers `POST /webhooks/jira` itself, with the same
`receiver.handle` as the Flask view; every other request goes through Flask unchanged.

Flask's request context, routing and Response object cost about as much CPU per delivery as the
receiver's own work (profiled under load, docs/webhooks.md); the answer is the same either way."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from webhooks.receiver import handle

if TYPE_CHECKING:
    from webhooks.app import ReceiverState

log = logging.getLogger("jsm_bridge.webhooks")

PATH = "/webhooks/jira"

_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
_INTERNAL = b'{"error": "internal error", "reason": "internal", "path": null}'

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ReceiverFastPath:
    """Wraps `app.wsgi_app`: exactly `POST /webhooks/jira` is handled here (Flask routes on PATH_INFO too)."""

    def __init__(self, app: WSGIApp, state: ReceiverState) -> None:
        self._app = app
        self._state = state

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self._app(environ, start_response)
        try:
            answer = handle(self._state, environ)
        except Exception as exc:
            # As the Flask app's handler: the class and traceback, never the body (it may hold secrets).
            log.exception("webhook_unexpected_error error=%s", type(exc).__name__)
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "application/json"), ("Content-Length", str(len(_INTERNAL)))],
            )
            return [_INTERNAL]
        status = _STATUS_LINES[answer.status]
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(answer.body)))]
        )
        return [answer.body]
