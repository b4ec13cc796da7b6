"""Time from a webhook's arrival to the resulting Jira write, against the sandbox over real HTTP.

Starts the sandbox and one bridge instance (receiver on a local port, inbox workers with the receiver's
production defaults, SQLite inbox and ledger), registers the webhook with a secret, then creates tickets
under the Capital Bytes pack whose "Users affected" is "All users" and which lack the organisation and
contract: the bridge must set priority P1 (Highest) and post the missing-information comment. For each
ticket it measures, on the wall clock, from the moment the sandbox sent the issue_created webhook to the
moment the priority write and the comment reached the sandbox. Prints median and p99 of each.

With `--server gunicorn` the bridge is the receiver's production server instead: `gunicorn -c
gunicorn.conf.py` (gevent workers, one per core) with its inbox workers, configured by JSM_BRIDGE_*
variables and following the sandbox's clock.

Run: python bench/bench_reaction.py [--tickets 60] [--interval 0.1] [--server inprocess|gunicorn]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from jsm_bridge import demo
from jsm_bridge.policy import load_policy

ROOT = Path(__file__).resolve().parent.parent
MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/London"))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def wait_for(issue_of, key: str, deadline: float) -> tuple[float | None, float | None]:
    """Wall-clock instants at which the priority write and the bridge's comment were first seen."""
    priority_at = comment_at = None
    while time.perf_counter() < deadline and (priority_at is None or comment_at is None):
        issue = issue_of(key)
        now = time.perf_counter()
        if priority_at is None and str(issue.fields.get("priority") or "") == "Highest":
            priority_at = now
        if comment_at is None and any(c.author == demo.BRIDGE_USER for c in issue.comments):
            comment_at = now
        time.sleep(0.001)
    return priority_at, comment_at


@contextmanager
def gunicorn_bridge(policy, folder: Path, settings: dict[str, str]) -> Iterator[tuple[Any, int, str]]:  # type: ignore[no-untyped-def]
    """The sandbox, and the receiver under gunicorn.conf.py with its inbox workers (`settings`: more
    JSM_BRIDGE_* variables); yields the sandbox, the receiver's port and the webhook secret."""
    from jsm_bridge.clock import ManualClock
    from jsm_bridge.sandbox import SandboxServer

    sandbox = SandboxServer(
        flavor="cloud",
        clock=ManualClock(MONDAY_MORNING),
        catalog=demo.demo_catalog([policy]),
        webhook_retry_delays=(0.2, 0.5),
    )
    sandbox.start()
    secret = secrets.token_hex(16)
    env = {
        "JSM_BRIDGE_DATABASE_URL": f"sqlite:///{folder / 'jsm-bridge.db'}",
        "JSM_BRIDGE_JIRA_URL": sandbox.url,
        "JSM_BRIDGE_JIRA_USER": demo.BRIDGE_USER,
        "JSM_BRIDGE_JIRA_TOKEN": "token",
        "JSM_BRIDGE_JIRA_FLAVOR": "cloud",
        "JSM_BRIDGE_JIRA_RATE": "1000",
        "JSM_BRIDGE_POLICIES": str(policy.path),
        "JSM_BRIDGE_WEBHOOK_SECRET": secret,
        "JSM_BRIDGE_CLOCK": "sandbox",
        "JSM_BRIDGE_LOG_LEVEL": "warning",
        **settings,
    }
    sys.path.insert(0, str(ROOT))
    from bench.bench_webhooks import gunicorn

    try:
        with gunicorn(None, env) as port:
            deadline = time.monotonic() + 20
            while True:  # up, and its store and inbox workers healthy
                try:
                    if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the receiver did not start")
                time.sleep(0.1)
            demo.register_webhook(sandbox.url, f"http://127.0.0.1:{port}", secret, [policy])
            yield sandbox, port, secret
    finally:
        sandbox.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=60)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between ticket creations")
    parser.add_argument("--server", choices=["inprocess", "gunicorn"], default="inprocess")
    parser.add_argument(
        "--flood",
        type=int,
        default=0,
        metavar="RATE",
        help="(gunicorn) meanwhile send RATE other webhooks/s at the receiver with wrk, evenly, and report "
        "their acknowledgement latency: the receiver's answers while its inbox workers are busy",
    )
    parser.add_argument("--inbox-workers", type=int, help="(gunicorn) JSM_BRIDGE_INBOX_WORKERS per process")
    parser.add_argument("--jira-rate", default="1000", help="(gunicorn) JSM_BRIDGE_JIRA_RATE, requests/s")
    args = parser.parse_args()

    policy = load_policy(ROOT / "policies" / "capital-bytes.yaml")
    acks: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        if args.server == "gunicorn":
            settings = {"JSM_BRIDGE_JIRA_RATE": args.jira_rate}
            if args.inbox_workers is not None:
                settings["JSM_BRIDGE_INBOX_WORKERS"] = str(args.inbox_workers)
            with gunicorn_bridge(policy, Path(folder), settings) as (sandbox, port, secret):
                flood = Flood(port, secret, args.flood, Path(folder)) if args.flood else None
                result = measure(sandbox, args)
                if flood is not None:
                    acks = flood.result()
        else:
            running = demo.start([policy], Path(folder), start_at=MONDAY_MORNING, receiver_settings={})
            try:
                result = measure(running.sandbox, args)
            finally:
                running.stop()
    priority_ms, comment_ms, missed = result
    print(
        f"{args.tickets} tickets, one every {args.interval:.2f}s, bridge: {args.server}; "
        f"{missed} without both writes within 10 s"
    )
    for name, values in (("priority set (P1)", priority_ms), ("missing-information comment", comment_ms)):
        if values:
            print(
                f"  {name:30s} median {statistics.median(values):7.1f} ms   "
                f"p99 {percentile(values, 0.99):7.1f} ms   max {max(values):7.1f} ms"
            )
    if args.server == "gunicorn" and args.flood:
        print(
            f"  meanwhile {args.flood} webhooks/s: sent {acks['sent']:.0f} at {acks['rate']:.0f}/s, acknowledged in "
            f"p50 {acks['p50_ms']:.1f} ms, p99 {acks['p99_ms']:.1f} ms, max {acks['max_ms']:.1f} ms, "
            f"non-202: {acks['non_202']:.0f}"
        )
    return 0 if not missed else 1


class Flood:
    """wrk sending `rate` signed webhooks/s (the Cloud issue_updated fixture) at the receiver, evenly,
    in a thread, for as long as the tickets take (at most 60 s)."""

    def __init__(self, port: int, secret: str, rate: int, folder: Path) -> None:
        import threading

        from webhooks.signature import sign

        sys.path.insert(0, str(ROOT))
        from bench import bench_webhooks

        body = bench_webhooks.FIXTURE.read_bytes()
        (folder / "flood.json").write_bytes(body)
        self._outcome: dict[str, float] = {}

        def run() -> None:
            self._outcome = bench_webhooks.wrk_steady(
                port, rate, 10, folder / "flood.json", sign(secret.encode(), body), folder
            )

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self) -> dict[str, float]:
        self._thread.join(60)
        return self._outcome


def measure(sandbox, args: argparse.Namespace) -> tuple[list[float], list[float], int]:  # type: ignore[no-untyped-def]
    """Create the tickets one by one and time each one's two writes (ms), and count the misses."""
    session = requests.Session()
    session.auth = ("customer", "token")
    priority_ms: list[float] = []
    comment_ms: list[float] = []
    missed = 0
    for n in range(args.tickets):
        body = {
            "fields": {
                "project": {"key": "CB"},
                "issuetype": {"name": "Incident"},
                "summary": f"All websites down ({n})",
                "description": "Every site answers 502 since 09:40.",
                "customfield_10054": {"value": "All users"},
            }
        }
        sent = time.perf_counter()  # the sandbox sends issue_created as it answers the create
        key = session.post(f"{sandbox.url}/rest/api/2/issue", json=body, timeout=10).json()["key"]
        priority_at, comment_at = wait_for(sandbox.state.issue, key, sent + 10)
        if priority_at is None or comment_at is None:
            missed += 1
        else:
            priority_ms.append((priority_at - sent) * 1000)
            comment_ms.append((comment_at - sent) * 1000)
        time.sleep(args.interval)
    return priority_ms, comment_ms, missed


if __name__ == "__main__":
    sys.exit(main())
