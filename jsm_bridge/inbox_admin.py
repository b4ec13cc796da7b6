"""`jsm-bridge inbox list|show ID|replay ID|purge --older-than AGE`: what the webhook inbox holds,
replaying dead events, and deleting old done ones.

For admins: see what arrived, why an event died, and put it back in the queue once the cause is fixed.
`serve` purges done events itself (JSM_BRIDGE_INBOX_RETENTION, 7 days by default); `purge` does it now."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from jsm_bridge.store import INBOX_STATES, Store, StoreError, UnknownEntry


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", help="database URL (default: $JSM_BRIDGE_DATABASE_URL)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="the newest events, optionally of one state")
    listing.add_argument("--state", choices=sorted(INBOX_STATES))
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = sub.add_parser("show", help="one event: its fields, last error and payload")
    show.add_argument("id", type=int)
    replay = sub.add_parser("replay", help="put a dead (or done) event back in the queue, due now")
    replay.add_argument("id", type=int)
    purge = sub.add_parser("purge", help="delete done events received longer ago than AGE (the others stay)")
    purge.add_argument("--older-than", required=True, type=_age, metavar="AGE", help="such as 7d or 36h")


def _age(text: str) -> timedelta:
    from jsm_bridge.policy.durations import DurationError, parse_wall_clock
    from jsm_bridge.runtime import MIN_INBOX_RETENTION

    try:
        age = parse_wall_clock(text)
    except DurationError:
        age = None
    if age is None or age < MIN_INBOX_RETENTION:
        # Younger events may still be retried by Jira: their rows are what recognises the retries.
        raise argparse.ArgumentTypeError(f"{text!r}: give a duration such as 7d or 36h, at least 1h")
    return age


def run(args: argparse.Namespace, store: Store | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        store = store or _store(args.database)
        return _ACTIONS[args.action](store, args, out)
    except UnknownEntry as exc:
        print(f"inbox: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"inbox: {exc}", file=sys.stderr)
        return 1


def _store(url: str | None) -> Store:
    store = Store(url)
    store.migrate()
    return store


def _summary(event: Any) -> dict[str, Any]:
    return {
        "id": event.id,
        "state": event.state,
        "attempts": event.attempts,
        "event": event.event_type,
        "issue": event.issue_key,
        "flavor": event.flavor,
        "received_at": event.received_at.isoformat(),
        "next_attempt_at": event.next_attempt_at.isoformat(),
        "delivery_id": event.delivery_id,
        "error": event.error,
    }


def _list(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    events = store.inbox_list(state=args.state, limit=args.limit)
    if args.json:
        for event in events:
            print(json.dumps(_summary(event), ensure_ascii=False), file=out)
        return 0
    print(
        f"{'ID':>6}  {'STATE':<10} {'TRIES':>5}  {'EVENT':<20} {'ISSUE':<12} {'RECEIVED':<25} ERROR", file=out
    )
    for e in events:
        error = (e.error or "").replace("\n", " ")
        print(
            f"{e.id:>6}  {e.state:<10} {e.attempts:>5}  {e.event_type:<20} {e.issue_key or '-':<12} "
            f"{e.received_at.isoformat():<25} {error[:60]}",
            file=out,
        )
    depth = store.inbox_depth()
    print("  ".join(f"{state}: {count}" for state, count in sorted(depth.items())), file=out)
    return 0


def _show(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    event = store.inbox_get(args.id)
    if event is None:
        raise UnknownEntry(f"no inbox event {args.id}: `jsm-bridge inbox list` shows the ids")
    for name, value in _summary(event).items():
        print(f"{name + ':':<17}{'' if value is None else value}", file=out)
    try:
        payload = json.dumps(json.loads(event.payload), indent=2, ensure_ascii=False)
    except ValueError:
        payload = event.payload
    print("payload:", file=out)
    print(payload, file=out)
    return 0


def _replay(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    store.inbox_replay(args.id)
    print(f"inbox event {args.id} is pending again: the workers will process it now", file=out)
    return 0


def _purge(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    before = datetime.now(UTC) - args.older_than
    deleted = store.inbox_purge(before)
    print(f"deleted {deleted} done events received before {before.isoformat(timespec='seconds')}", file=out)
    return 0


_ACTIONS = {"list": _list, "show": _show, "replay": _replay, "purge": _purge}
