"""`jsm-bridge sandbox`: run the JSM-compatible server in the foreground, one log line per request."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from datetime import datetime

from jsm_bridge.clock import ManualClock
from jsm_bridge.sandbox.server import FLAVORS, SandboxServer


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8081, help="port to listen on (default 8081; 0 picks one)"
    )
    parser.add_argument(
        "--flavor", choices=FLAVORS, default="cloud", help="answer as Jira Cloud or Data Center"
    )
    parser.add_argument(
        "--database", metavar="FILE", help="keep issues, webhooks and the clock in this SQLite file"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("JSM_BRIDGE_SANDBOX_TOKEN"),
        help="accept only this API token / personal access token (default: any)",
    )
    parser.add_argument(
        "--start", metavar="ISO", help="start the sandbox clock at this instant (with offset)"
    )
    parser.add_argument(
        "--jsm-automation",
        action="store_true",
        help="move tickets between Waiting for customer and Waiting for support on replies, as JSM does",
    )
    parser.add_argument(
        "--legacy-comment-events",
        action="store_true",
        help="also report comments as jira:issue_updated (issue_commented), as older servers do",
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    clock = None
    if args.start:
        start = datetime.fromisoformat(args.start)
        if start.tzinfo is None:
            print("--start needs an offset, for example 2026-11-23T09:00:00+00:00", file=sys.stderr)
            return 2
        clock = ManualClock(start)
    server = SandboxServer(
        flavor=args.flavor,
        clock=clock,
        database=args.database,
        host=args.host,
        port=args.port,
        token=args.token,
        jsm_automation=args.jsm_automation,
        legacy_comment_events=args.legacy_comment_events,
        log_requests=True,
    )
    server.start()
    signal.signal(signal.SIGTERM, _interrupt)
    print(
        f"sandbox ({args.flavor}) listening on {server.url}; clock at {server.clock.now().isoformat()}",
        flush=True,
    )
    try:
        server.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM (docker stop, a test harness) ends the server as cleanly as Ctrl-C.
    raise KeyboardInterrupt
