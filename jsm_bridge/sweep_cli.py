"""`jsm-bridge sweep --once [--dry-run] [--policy NAME]`: one sweep of every policy (or one), now.

Prints what it did, or with --dry-run would do, per ticket: the action, the rule and the reason."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

from jsm_bridge.sweeper import SweepReport, progress_printer

_VERB = {"done": "done", "planned": "would", "skipped": "skipped", "failed": "FAILED"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once", action="store_true", help="sweep once and exit (serve sweeps on a schedule)"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="decide and print, but write nothing to Jira or the ledger (as JSM_BRIDGE_DRY_RUN=1)",
    )
    parser.add_argument("--policy", metavar="NAME", help="sweep only this policy (its `policy:` name)")
    parser.add_argument("--quiet", action="store_true", help="print the summary lines only")


def run(args: argparse.Namespace) -> int:
    from jsm_bridge.runtime import ConfigurationError, Runtime

    if not args.once:
        print(
            "jsm-bridge sweep: give --once to sweep now; `jsm-bridge serve` sweeps on a schedule",
            file=sys.stderr,
        )
        return 2
    env = dict(os.environ)
    if args.dry_run:
        env["JSM_BRIDGE_DRY_RUN"] = "1"
    try:
        runtime = Runtime.from_env(env)
        policies = [runtime.policy(args.policy)] if args.policy else runtime.policies
    except (ConfigurationError, ValueError) as error:
        print(f"jsm-bridge sweep: {error}", file=sys.stderr)
        return 2
    runtime.prepare()
    status = 0
    for policy in policies:
        report = runtime.sweeper.sweep(policy, progress=progress_printer(sys.stderr))
        print_report(report, dry_run=runtime.dry_run, quiet=args.quiet)
        if report.error or any(getattr(r, "failed", ()) for r in report.results):
            status = 1
    return status


def print_report(
    report: SweepReport, *, dry_run: bool, quiet: bool = False, out: TextIO | None = None
) -> None:
    """One summary line per policy, then one line per action: ticket, outcome, kind, rule, reason."""
    stream = out or sys.stdout
    if out is None and sys.stderr.isatty():
        sys.stderr.write("\r\033[K")  # clear the progress line
    mode = " (dry run: nothing written)" if dry_run else ""
    print(
        f"{report.policy}: {report.tickets} tickets read, {len(report.due)} with actions due, "
        f"{report.actions} actions {'planned' if dry_run else 'done'} in {report.seconds:.1f}s{mode}",
        file=stream,
    )
    if report.error:
        print(f"  sweep stopped: {report.error}", file=stream)
    if quiet:
        return
    for result in report.results:
        for outcome in getattr(result, "outcomes", ()) or ():
            print(_outcome_line(outcome), file=stream)


def _outcome_line(outcome: Any) -> str:
    action = outcome.action
    verb = _VERB.get(outcome.status, outcome.status)
    why = action.reason if outcome.status in ("done", "planned") else outcome.detail
    return f"  {action.ticket:<12} {verb:<8} {action.kind:<12} rule {action.rule}: {why}"
