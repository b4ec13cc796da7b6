"""The receiver's configuration: everything create_app needs, passed in (never read from globals).

`ReceiverConfig.from_env()` builds one from the JSM_BRIDGE_* environment for the production server."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from jsm_bridge.clock import Clock, SystemClock
from webhooks.metrics import Metrics

DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # Jira issue payloads are tens of KB; custom fields can grow them


@dataclass
class ReceiverConfig:
    """Settings of one receiver app.

    store            the inbox (jsm_bridge.store.Store, or anything with its inbox_* methods and ping)
    webhook_secret   when set, every delivery must carry a valid `X-Hub-Signature: sha256=<hex>`
    max_body_bytes   larger bodies are refused with 413
    processor        the TicketProcessor the inbox workers call; None runs no workers in this app
    worker_threads   inbox worker threads per process (0: none, e.g. when workers run elsewhere)
    worker_*         retry policy: attempts before dead letter, first backoff, longest backoff
    commit_*         group commit: largest batch per transaction, longest wait for a commit (then 503)
    metrics          a Metrics to report into (so a processor built first can share its hooks)
    """

    store: Any
    webhook_secret: str | None = field(default=None, repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    clock: Clock = field(default_factory=SystemClock)
    processor: Any | None = None
    worker_threads: int = 2
    worker_max_attempts: int = 8
    worker_backoff: timedelta = timedelta(seconds=30)
    worker_backoff_max: timedelta = timedelta(hours=1)
    worker_poll_interval: float = 1.0
    worker_lease: timedelta = timedelta(minutes=5)
    commit_max_batch: int = 256
    commit_timeout: float = 10.0
    metrics: Metrics | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ReceiverConfig:
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown receiver settings: {', '.join(sorted(unknown))}")
        return cls(**dict(values))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, store: Any = None, processor: Any = None
    ) -> ReceiverConfig:
        """JSM_BRIDGE_DATABASE_URL (the store, unless one is given), JSM_BRIDGE_WEBHOOK_SECRET, and the
        optional JSM_BRIDGE_WEBHOOK_MAX_BYTES and JSM_BRIDGE_INBOX_WORKERS (threads per process)."""
        env = os.environ if environ is None else environ
        if store is None:
            from jsm_bridge.store import Store

            # The receiver checkpoints a SQLite WAL from a thread of its own (webhooks/checkpointer.py).
            store = Store(
                url=env.get("JSM_BRIDGE_DATABASE_URL") or None,
                synchronous=env.get("JSM_BRIDGE_SQLITE_SYNCHRONOUS") or None,
                autocheckpoint=False,
            )
        return cls(
            store=store,
            webhook_secret=env.get("JSM_BRIDGE_WEBHOOK_SECRET") or None,
            max_body_bytes=int(env.get("JSM_BRIDGE_WEBHOOK_MAX_BYTES") or DEFAULT_MAX_BODY_BYTES),
            processor=processor,
            worker_threads=int(env.get("JSM_BRIDGE_INBOX_WORKERS") or 2),
        )
