"""Metrics across the processes of one server. Imports nothing of prometheus_client at load time.

Under a server with several processes (gunicorn), a scrape reaches one process at a time, and each
would report only its own counts (counters would seem to jump back and forth between scrapes). So the
server's master calls `share_between_processes()` before it forks: every process then writes its
values to files in one folder (prometheus_client's multiprocess mode, chosen when prometheus_client is
first imported, hence this separate module) and every scrape adds them up (Metrics.exposition). The
server calls `process_exited(pid)` for each process that ends, and `stop_sharing()` when it exits."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import MutableMapping

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

_made: str | None = None  # the folder share_between_processes made in this process, if it made one


def share_between_processes(env: MutableMapping[str, str] | None = None) -> str:
    """Turn on prometheus_client's multiprocess mode for the processes forked after this call: the
    folder named by PROMETHEUS_MULTIPROC_DIR (emptied of an earlier run's files), else a new temporary
    one. Call it in the server's master before the workers start (and before prometheus_client is
    imported there). Returns the folder."""
    global _made
    env = os.environ if env is None else env
    folder = env.get(MULTIPROCESS_ENV)
    if not folder:
        folder = _made = tempfile.mkdtemp(prefix="jsm-bridge-metrics-")
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(folder, "*.db")):
        os.remove(stale)
    env[MULTIPROCESS_ENV] = folder
    return folder


def process_exited(pid: int) -> None:
    """Forget a dead process's live gauges (its counters stay in the sums, as they should)."""
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def stop_sharing() -> None:
    """At the server's exit: remove the folder share_between_processes made. A folder named by
    PROMETHEUS_MULTIPROC_DIR belongs to the admin and stays (the next start empties it)."""
    global _made
    if _made is not None:
        shutil.rmtree(_made, ignore_errors=True)
        _made = None
