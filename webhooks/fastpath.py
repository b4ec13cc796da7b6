"""A WSGI layer in front of the Flask app that answers `POST /webhooks/jira` itself, with the same
`receiver.handle` as the Flask view; every other request goes through Flask unchanged.

Flask's request context, routing and Response object cost about as much CPU per delivery as the
receiver's own work (profiled under load, docs/webhooks.md); the answer is the same either way.

Under gunicorn, the answer leaves in one TCP segment: gunicorn writes the status line and headers,
then the body, in two sends (two segments, two wake-ups of the reader); the connection is corked
(TCP_CORK) until gunicorn closes the body, which uncorks it and sends both at once."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
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

_TCP_CORK: int | None = getattr(socket, "TCP_CORK", None)  # Linux


class CorkedBody:
    """A response body sent on a corked connection: iterating yields the body; `close()`, which the
    server calls once it has written the response (PEP 3333; gunicorn does so in a `finally`),
    uncorks the connection, and the kernel sends what was held back. Should a server never call it,
    Linux sends corked data after 200 ms anyway."""

    __slots__ = ("_body", "_sock")

    def __init__(self, sock: Any, body: bytes) -> None:
        self._sock = sock
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        return iter((self._body,))

    def close(self) -> None:
        with suppress(OSError):  # the client has gone: nothing is left to send
            self._sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 0)


def corked(environ: dict[str, Any], body: bytes) -> Iterable[bytes]:
    """The body to return for `environ`'s connection: corked when the server gives the app its socket
    (gunicorn's `gunicorn.socket`) and the socket is TCP on Linux, else the body as it is."""
    sock = environ.get("gunicorn.socket")
    if sock is None or _TCP_CORK is None:
        return [body]
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 1)
    except (OSError, AttributeError):  # not a TCP socket (a Unix socket), or not a socket at all
        return [body]
    return CorkedBody(sock, body)


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
        return corked(environ, answer.body)
