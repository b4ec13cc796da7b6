"""SandboxServer: the JSM-compatible server on a local port, served from a background thread.

with SandboxServer(flavor="cloud") as sandbox:
    requests.get(f"{sandbox.url}/rest/api/2/serverInfo")
"""

from __future__ import annotations

import threading
from datetime import timedelta
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from jsm_bridge.clock import ManualClock, SystemClock
from jsm_bridge.sandbox.app import SandboxApp
from jsm_bridge.sandbox.catalog import Catalog
from jsm_bridge.sandbox.faults import FaultInjector, Faults
from jsm_bridge.sandbox.render import CLOUD, DATACENTER, Renderer
from jsm_bridge.sandbox.state import SandboxState
from jsm_bridge.sandbox.storage import MemoryStorage, SqliteStorage, Storage
from jsm_bridge.sandbox.webhooks import WebhookSender

FLAVORS = (CLOUD, DATACENTER)


class QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without its per-request access log (the sandbox logs requests itself)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SandboxServer:
    """A Jira Service Management look-alike. `port=0` picks a free port; `url` is known after start().

    `clock` drives every timestamp (shared with the bridge in the demo); `database` keeps the state in a
    SQLite file; `faults` injects errors; `token`, when given, is the only credential accepted.
    `webhook_retry_delays` (seconds) bounds and spaces webhook retries; `legacy_comment_events` also
    reports comments as jira:issue_updated; `jsm_automation` turns on JSM's default transition on comment."""

    def __init__(
        self,
        flavor: str = CLOUD,
        clock: ManualClock | None = None,
        database: str | None = None,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        catalog: Catalog | None = None,
        token: str | None = None,
        webhook_retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0),
        webhook_timeout: float = 5.0,
        legacy_comment_events: bool = False,
        jsm_automation: bool = False,
        log_requests: bool = False,
    ) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"flavor must be one of {', '.join(FLAVORS)}, not {flavor!r}")
        self.flavor = flavor
        self.clock = clock or ManualClock(SystemClock().now().replace(microsecond=0))
        self.host = host
        self.port = port
        storage: Storage = SqliteStorage(database) if database else MemoryStorage()
        # A stored clock resumes where it stopped unless the caller brings its own.
        self.state = SandboxState(catalog or Catalog(), self.clock, storage, restore_clock=clock is None)
        self.state.jsm_automation = jsm_automation
        self.injector = FaultInjector(faults)
        self.injector.listeners.append(self._apply_search_lag)
        self._apply_search_lag(self.injector.faults)
        self.renderer = Renderer(self.state.catalog, flavor, self.state.users)
        self.sender = WebhookSender(
            self.state,
            self.renderer,
            self.injector,
            retry_delays=webhook_retry_delays,
            timeout=webhook_timeout,
            legacy_comment_events=legacy_comment_events,
        )
        self.state.listeners.append(self.sender.on_event)
        self.app = SandboxApp(self.state, self.renderer, self.injector, self.sender, token, log_requests)
        self.url = ""
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _apply_search_lag(self, faults: Faults) -> None:
        with self.state.lock:
            self.state.search_lag = timedelta(seconds=faults.search_lag_seconds)

    @property
    def faults(self) -> Faults:
        return self.injector.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.injector.configure(faults)

    def start(self) -> SandboxServer:
        self._server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=QuietHandler
        )
        self.port = self._server.server_port
        self.url = f"http://{self.host}:{self.port}"
        self.renderer.base_url = self.url
        self.sender.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sandbox-http", daemon=True
        )
        self._thread.start()
        return self

    def join(self) -> None:
        """Block until the server stops (the CLI's foreground mode; Ctrl-C interrupts)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        if self._server is not None:
            self._server.server_close()
            self._server = None
        self.sender.stop()
        self.state.storage.close()

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until every queued webhook delivery, retries included, has ended."""
        return self.sender.wait_idle(timeout)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
