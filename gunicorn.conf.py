"""Production server configuration for the webhook receiver: `gunicorn -c gunicorn.conf.py`.

Measured on 2 cores (see docs/webhooks.md): gevent workers, one process per core. Each process runs its
own app (built by webhooks.wsgi:build()): requests are greenlets; a group commit batches the inbox
inserts of the requests waiting together into one transaction, written by a greenlet of the process;
a native thread checkpoints the SQLite WAL; and its own inbox workers."""

import multiprocessing
import os

wsgi_app = "webhooks.wsgi:build()"
bind = os.environ.get("JSM_BRIDGE_BIND", "127.0.0.1:8080")

# One process per core: request handling is CPU-bound Python (signature, JSON), the commit is batched.
workers = int(os.environ.get("JSM_BRIDGE_HTTP_WORKERS", multiprocessing.cpu_count()))
# gevent: a request waiting for its commit is a parked greenlet, not a thread that the kernel and the
# GIL must switch to and from (with 2 x 32 threads: 13-33 context switches per request, and about
# 600 us of CPU per request against about 400 us here; docs/webhooks.md). JSM_BRIDGE_HTTP_WORKER_CLASS=
# gthread (with JSM_BRIDGE_HTTP_THREADS threads) is the thread-based alternative.
worker_class = os.environ.get("JSM_BRIDGE_HTTP_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("JSM_BRIDGE_HTTP_CONNECTIONS", 1000))  # per process (gevent)
threads = int(os.environ.get("JSM_BRIDGE_HTTP_THREADS", 32))  # per process (gthread)
# Each process listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new connections
# over them. On one shared socket, the process that woke first accepted a burst of connections
# (measured with 32 at once: splits up to 30/2 between two processes, and 12-20% fewer requests/s
# than an even split). JSM_BRIDGE_HTTP_REUSE_PORT=0 goes back to one socket.
reuse_port = os.environ.get("JSM_BRIDGE_HTTP_REUSE_PORT", "1").strip().lower() not in (
    "0",
    "false",
    "no",
    "off",
)
keepalive = 5  # Jira reuses connections between deliveries
timeout = 30
graceful_timeout = 30  # inbox workers finish the event in flight before the process exits
preload_app = False  # never build the app (threads, connections) before the fork

# Refuse absurd requests before they reach Python; bodies are limited by the app (413).
limit_request_line = 8190
limit_request_fields = 100

accesslog = os.environ.get("JSM_BRIDGE_ACCESS_LOG") or None  # off by default: the app logs refusals
errorlog = "-"
loglevel = os.environ.get("JSM_BRIDGE_LOG_LEVEL", "info")


def on_starting(server):
    """Before the workers fork: /metrics adds up the counts of every process (see webhooks/metrics.py)."""
    from webhooks.metrics_sharing import share_between_processes

    share_between_processes()


def on_exit(server):
    """The metrics folder made at start (when PROMETHEUS_MULTIPROC_DIR named none) goes with the server."""
    from webhooks.metrics_sharing import stop_sharing

    stop_sharing()


def child_exit(server, worker):
    from webhooks.metrics_sharing import process_exited

    process_exited(worker.pid)


def worker_exit(server, worker):
    """Stop the inbox workers and the WAL checkpointer of this process gracefully."""
    app = getattr(worker, "wsgi", None)
    if app is not None and "jsm_bridge" in getattr(app, "extensions", {}):
        from webhooks.app import shutdown

        shutdown(app, timeout=graceful_timeout)
