"""Production server configuration for the webhook receiver: `gunicorn -c gunicorn.conf.py`.

Measured on 2 cores (see docs/webhooks.md): 2 worker processes x 32 threads. Each process runs its own
app (built by webhooks.wsgi:build()): a group commit that batches the inbox inserts of concurrent
requests into one transaction, a thread that checkpoints the SQLite WAL, and its own inbox workers."""

import multiprocessing
import os

wsgi_app = "webhooks.wsgi:build()"
bind = os.environ.get("JSM_BRIDGE_BIND", "127.0.0.1:8080")

# One process per core: request handling is CPU-bound Python (signature, JSON), the commit is batched.
workers = int(os.environ.get("JSM_BRIDGE_HTTP_WORKERS", multiprocessing.cpu_count()))
# Threads let the requests of one process wait on the same group commit: the more requests wait
# together, the fewer transactions. Single runs gave 794 requests/s with 8 threads, 1,008 with 16 and
# 1,027-1,035 with 32 (docs/webhooks.md); a waiting thread costs memory, which the body limit bounds.
worker_class = "gthread"
threads = int(os.environ.get("JSM_BRIDGE_HTTP_THREADS", 32))
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


def worker_exit(server, worker):
    """Stop the inbox workers and the WAL checkpointer of this process gracefully."""
    app = getattr(worker, "wsgi", None)
    if app is not None and "jsm_bridge" in getattr(app, "extensions", {}):
        from webhooks.app import shutdown

        shutdown(app, timeout=graceful_timeout)
