"""The Flask app factory: `create_app(config)` builds one receiver from the configuration it is given.

No module-level app and no globals: every test, and every server worker process, gets a fresh one."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from jsm_bridge.inbox_worker import InboxWorkers
from jsm_bridge.store import InboxEntry, StoreError
from webhooks.checkpointer import WalCheckpointer
from webhooks.committer import GeventCommitter, GroupCommitter, gevent_patched
from webhooks.config import ReceiverConfig
from webhooks.metrics import Metrics

log = logging.getLogger("jsm_bridge.webhooks")


class ReceiverState:
    """What the blueprints share, kept in `app.extensions["jsm_bridge"]`."""

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.store = config.store
        self.clock = config.clock
        self.secret = config.webhook_secret.encode("utf-8") if config.webhook_secret else None
        self.metrics = config.metrics or Metrics()
        self.metrics.watch_inbox(self.store.inbox_depth)
        # The Jira calls the processor makes (inbox workers and sweeper share it) appear in /metrics.
        self.metrics.watch_jira(getattr(config.processor, "gateway", None))
        self.inbox_entry = InboxEntry
        self.store_error: type[Exception] = StoreError
        # Under gunicorn's gevent workers (the production configuration) requests are greenlets of one
        # thread and a greenlet of the committer writes each batch; with threads, the requests commit
        # in turns themselves.
        green = gevent_patched()
        self.committer: GroupCommitter | GeventCommitter
        if green:
            self.committer = GeventCommitter(
                self.store, timeout=config.commit_timeout, lock_path=commit_lock_path(self.store)
            )
        else:
            self.committer = GroupCommitter(
                self.store,
                max_batch=config.commit_max_batch,
                timeout=config.commit_timeout,
                lock_path=commit_lock_path(self.store),
            )
        # A SQLite store whose commits do not checkpoint (ReceiverConfig.from_env builds it so) gets
        # its checkpoints from a thread of this app instead.
        self.checkpointer: WalCheckpointer | None = None
        if self.committer.commit_lock is not None and getattr(self.store, "autocheckpoint", True) is False:
            self.checkpointer = WalCheckpointer(
                self.store, self.committer.commit_lock, runner=native_thread(green)
            )
        self.workers: InboxWorkers | None = None
        if config.processor is not None and config.worker_threads > 0:
            self.workers = InboxWorkers(
                self.store,
                config.processor,
                clock=config.clock,
                threads=config.worker_threads,
                max_attempts=config.worker_max_attempts,
                backoff=config.worker_backoff,
                backoff_max=config.worker_backoff_max,
                poll_interval=config.worker_poll_interval,
                lease=config.worker_lease,
                observer=self.metrics.record_processed,
                action_observer=self.metrics.record_action,
            )

    def close(self, timeout: float = 30.0) -> None:
        """Stop the workers (each finishes the event in flight), then the checkpointer, then the
        committer's thread (gevent)."""
        if self.workers is not None:
            self.workers.stop(timeout)
        if self.checkpointer is not None:
            self.checkpointer.stop(timeout)
        self.committer.close()


def native_thread(green: bool) -> Any:
    """Under gevent, a runner of calls in a native thread (gevent's pool of them), else None: here."""
    if not green:
        return None
    import gevent

    return lambda fn: gevent.get_hub().threadpool.apply(fn)


def commit_lock_path(store: Any) -> str | None:
    """For a SQLite file, the lock file its server processes take turns on (see GroupCommitter)."""
    from sqlalchemy.engine import make_url

    url = getattr(store, "url", None)
    if not isinstance(url, str):
        return None
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return f"{parsed.database}.commit-lock"


def create_app(config: ReceiverConfig | Mapping[str, Any]) -> Flask:
    """A receiver app: `POST /webhooks/jira`, `GET /healthz`, `GET /metrics`.

    `config` is a ReceiverConfig or a mapping of its fields. When it has a processor and worker
    threads, the inbox workers start with the app; `shutdown(app)` stops them gracefully."""
    if not isinstance(config, ReceiverConfig):
        config = ReceiverConfig.from_mapping(config)
    app = Flask("webhooks")
    # One byte more than the limit: werkzeug stops reading a chunked body there (without raising), and
    # the receiver refuses any body longer than the limit itself.
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes + 1
    state = ReceiverState(config)
    app.extensions["jsm_bridge"] = state

    from webhooks.health import bp as health_bp
    from webhooks.receiver import bp as receiver_bp

    app.register_blueprint(receiver_bp)
    app.register_blueprint(health_bp)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    from webhooks.fastpath import ReceiverFastPath

    app.wsgi_app = ReceiverFastPath(app.wsgi_app, state)  # type: ignore[method-assign]

    if state.checkpointer is not None:
        state.checkpointer.start()
    if state.workers is not None:
        state.workers.start()
    return app


def shutdown(app: Flask, timeout: float = 30.0) -> None:
    """Stop an app's background threads: workers finish the event in flight first."""
    state: ReceiverState = app.extensions["jsm_bridge"]
    state.close(timeout)


def _http_error(exc: HTTPException) -> Response:
    state: ReceiverState = current_app.extensions["jsm_bridge"]
    reason = "too_large" if exc.code == 413 else "http"
    if exc.code == 413:
        state.metrics.refused.labels("too_large").inc()
    log.info("webhook_http_error status=%s path=%s", exc.code, request.path)
    body = json.dumps({"error": exc.description or exc.name, "reason": reason, "path": None})
    return Response(body, status=exc.code or 500, mimetype="application/json")


def _unexpected_error(exc: Exception) -> Response:
    # Logged with its traceback but never with the request body (it may hold customer data or secrets).
    log.exception("webhook_unexpected_error error=%s", type(exc).__name__)
    return Response(
        b'{"error": "internal error", "reason": "internal", "path": null}',
        status=500,
        mimetype="application/json",
    )
