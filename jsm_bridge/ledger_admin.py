"""`jsm-bridge ledger list|retry KEY`: the actions the ledger holds, and making a given-up one owed again.

For admins: see which actions failed (and why), and once the cause is fixed, let the bridge try again."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from jsm_bridge.store import LEDGER_STATES, LedgerEntry, Store, StoreError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", help="database URL (default: $JSM_BRIDGE_DATABASE_URL)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="actions in the ledger, optionally of one state or ticket")
    listing.add_argument("--state", choices=sorted(LEDGER_STATES))
    listing.add_argument("--ticket", metavar="KEY", help="only this ticket's actions (e.g. CB-1)")
    listing.add_argument("--limit", type=int, default=200)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    retry = sub.add_parser(
        "retry", help="make a failed action (given up, or waiting) owed again, due now, attempts reset"
    )
    retry.add_argument("key", help="the action key, as `ledger list` shows it")


def run(args: argparse.Namespace, store: Store | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        store = store or _store(args.database)
        return int(_ACTIONS[args.action](store, args, out))
    except StoreError as exc:  # UnknownEntry too
        print(f"ledger: {exc}", file=sys.stderr)
        return 1


def _store(url: str | None) -> Store:
    store = Store(url)
    store.migrate()
    return store


def _status(entry: LedgerEntry) -> str:
    """The state as an operator reads it: a failed action is either waiting to retry or given up."""
    if entry.state == "failed":
        return "failed" if entry.retry_at is not None else "given-up"
    return entry.state


def _summary(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "ticket": entry.ticket,
        "rule": entry.rule,
        "kind": entry.kind,
        "state": entry.state,
        "given_up": entry.state == "failed" and entry.retry_at is None,
        "attempts": entry.attempts,
        "holder": entry.holder,
        "claimed_at": _iso(entry.claimed_at),
        "done_at": _iso(entry.done_at),
        "retry_at": _iso(entry.retry_at),
        "error": entry.error,
    }


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _list(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    entries = store.ledger_entries(args.ticket, state=args.state, limit=args.limit)
    if args.json:
        for entry in entries:
            print(json.dumps(_summary(entry), ensure_ascii=False), file=out)
        return 0
    print(f"{'STATE':<9} {'TRIES':>5}  {'TICKET':<10} {'KIND':<12} {'KEY':<40} NEXT / ERROR", file=out)
    for e in entries:
        detail = e.retry_at.isoformat() if e.retry_at is not None else ""
        if e.error:
            detail = f"{detail} {e.error}".strip()
        print(
            f"{_status(e):<9} {e.attempts:>5}  {e.ticket:<10} {e.kind:<12} {e.key:<40} "
            f"{detail.replace(chr(10), ' ')[:80]}",
            file=out,
        )
    print(f"{len(entries)} action(s)", file=out)
    return 0


def _retry(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    entry = store.ledger_retry(args.key)
    store.cache_wake(entry.ticket, store.clock.now())  # the due-check looks at the ticket now
    print(
        f"{entry.key} is owed again: the next look at {entry.ticket} (a webhook, the due-check or the "
        "sweep) carries it out if the policy still calls for it",
        file=out,
    )
    return 0


_ACTIONS = {"list": _list, "retry": _retry}
