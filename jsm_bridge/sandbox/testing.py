"""A webhook listener for tests and demos: a local HTTP endpoint that records what the sandbox sends.

with WebhookListener() as listener:
    ...register listener.url as a webhook, change an issue...
    delivery = listener.wait_for(1)[0]
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


@dataclass(frozen=True)
class Received:
    """One request the listener got: path, headers (as sent) and the raw body."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without its per-request access log (the sandbox logs requests itself)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class WebhookListener:
    """Answers each request with the next status from `statuses` (then 200), and records it."""

    def __init__(self, statuses: Iterable[int] = (), host: str = "127.0.0.1") -> None:
        self.received: list[Received] = []
        self._statuses = list(statuses)
        self._condition = threading.Condition()
        self._server: BaseWSGIServer = make_server(
            host, 0, self._app, threaded=True, request_handler=QuietHandler
        )
        self.url = f"http://{host}:{self._server.server_port}/webhooks/jira"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="webhook-listener", daemon=True
        )

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        with self._condition:
            status = self._statuses.pop(0) if self._statuses else 200
            self.received.append(Received(request.path, dict(request.headers), request.get_data()))
            self._condition.notify_all()
        return Response("{}", status=status, content_type="application/json")(environ, start_response)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first `count` requests, waiting for them to arrive; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} webhook(s), got {len(self.received)}")
                self._condition.wait(remaining)
            return list(self.received[:count])

    def start(self) -> WebhookListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookListener:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
