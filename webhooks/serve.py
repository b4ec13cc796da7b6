"""`jsm-bridge serve`: the receiver on gunicorn, with inbox workers and the sweep scheduler in each process.

Settings come from gunicorn.conf.py (the receiver's production configuration) when present; --host and
--port override its bind. SIGTERM stops each process gracefully: the action in flight finishes, the rest
stays queued in the inbox and the cache for the next start or another instance."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from flask import Flask

log = logging.getLogger("jsm_bridge.serve")

DEFAULT_CONFIG = "gunicorn.conf.py"
GRACEFUL_TIMEOUT = 30


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument(
        "--workers",
        type=int,
        help="server processes (default: JSM_BRIDGE_HTTP_WORKERS, else gunicorn.conf.py's, else one per core)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"gunicorn settings file (default: {DEFAULT_CONFIG} in the working directory, when there)",
    )


def build_app() -> Flask:
    """One process's app: a Runtime from the environment, its scheduler started, the receiver with
    inbox workers over the same processor. Called by gunicorn in each worker after the fork."""
    from jsm_bridge.runtime import Runtime
    from webhooks.app import create_app
    from webhooks.config import ReceiverConfig

    runtime = Runtime.from_env()
    runtime.start()
    # The receiver's own settings (secret, body limit, inbox worker threads) over this runtime's parts.
    config = ReceiverConfig.from_env(store=runtime.store, processor=runtime.processor)
    config.clock = runtime.clock
    app = create_app(config)
    app.extensions["jsm_bridge_runtime"] = runtime
    return app


def stop_app(app: Any, timeout: float = GRACEFUL_TIMEOUT) -> None:
    """Graceful stop of one process: the scheduler first (a sweep ends after its current ticket), then
    the inbox workers (each finishes the event in flight; claimed events go back to the inbox)."""
    runtime = getattr(app, "extensions", {}).get("jsm_bridge_runtime")
    if runtime is not None:
        runtime.stop()
    if "jsm_bridge" in getattr(app, "extensions", {}):
        from webhooks.app import shutdown

        shutdown(app, timeout=timeout)


def _worker_exit(server: Any, worker: Any) -> None:
    app = getattr(worker, "wsgi", None)
    if app is not None:
        stop_app(app, timeout=float(getattr(server.cfg, "graceful_timeout", GRACEFUL_TIMEOUT)))


def run(args: argparse.Namespace) -> int:
    from gunicorn.app.base import Application

    from webhooks.metrics_sharing import process_exited, share_between_processes, stop_sharing

    share_between_processes()  # before anything imports prometheus_client in this (the master) process

    from jsm_bridge.runtime import ConfigurationError, Runtime

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per due-check each second is noise
    # Fail before forking when the configuration is wrong, with a message that says what to fix.
    try:
        Runtime.from_env().store.migrate()
    except (ConfigurationError, ValueError) as error:
        print(f"jsm-bridge serve: {error}", file=sys.stderr)
        return 2

    config_file = args.config or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)

    class Server(Application):  # type: ignore[misc]
        def init(self, parser: Any, opts: Any, args_: Any) -> None:
            return None

        def load_config(self) -> None:
            if config_file:
                self.load_config_from_file(config_file)
            else:
                # The same choices as gunicorn.conf.py, for an installed package without the file.
                self.cfg.set("threads", int(os.environ.get("JSM_BRIDGE_HTTP_THREADS", 32)))
                self.cfg.set("workers", int(os.environ.get("JSM_BRIDGE_HTTP_WORKERS", 2)))
                self.cfg.set("timeout", 30)
                self.cfg.set("graceful_timeout", GRACEFUL_TIMEOUT)
                self.cfg.set("keepalive", 5)
            # serve runs the sweeper in the same processes: under gevent a sweep's CPU work (and its
            # store writes) would hold up every request of the process until it ends, so serve uses
            # threads, whose GIL switches every few ms, unless told otherwise.
            self.cfg.set("worker_class", os.environ.get("JSM_BRIDGE_HTTP_WORKER_CLASS", "gthread"))
            self.cfg.set("bind", [f"{args.host}:{args.port}"])
            self.cfg.set("preload_app", False)  # each process builds its own runtime after the fork
            self.cfg.set("worker_exit", _worker_exit)
            self.cfg.set("child_exit", lambda server, worker: process_exited(worker.pid))
            self.cfg.set("on_exit", lambda server: stop_sharing())
            if args.workers:
                self.cfg.set("workers", args.workers)
            elif os.environ.get("JSM_BRIDGE_HTTP_WORKERS"):
                self.cfg.set("workers", int(os.environ["JSM_BRIDGE_HTTP_WORKERS"]))

        def load(self) -> Flask:
            return build_app()

    sys.argv = [sys.argv[0]]  # gunicorn parses the command line itself; ours is already parsed
    Server().run()
    return 0
