"""The `jsm-bridge` command: one subcommand per module, imported only when that subcommand runs.

Each module named in SUBCOMMANDS provides `configure(parser)` and `run(args) -> int`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from jsm_bridge import __version__

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("jsm_bridge.policy.cli", "check policy files: schema, references, calendars, templates"),
    "sandbox": (
        "jsm_bridge.sandbox.cli",
        "run a JSM-compatible server for demos and tests, no Jira account needed",
    ),
    "serve": ("webhooks.serve", "run the webhook receiver, inbox workers and the sweeper against Jira"),
    "sweep": (
        "jsm_bridge.sweep_cli",
        "sweep every policy's tickets once and print what was (or would be) done",
    ),
    "explain": (
        "jsm_bridge.explain",
        "show a ticket's clocks, JSM's SLAs, what is due now and next, and why",
    ),
    "simulate": ("jsm_bridge.simulate", "replay a scenario with a fake clock and print the timeline"),
    "register-webhook": (
        "jsm_bridge.webhook_admin",
        "register (or update) the Jira admin webhook that feeds the receiver",
    ),
    "inbox": ("jsm_bridge.inbox_admin", "list, show and replay webhook events in the inbox"),
    "demo": ("jsm_bridge.demo", "play every shipped policy against the sandbox on a fast clock and report"),
    "ledger": ("jsm_bridge.ledger_admin", "list the actions in the ledger and retry failed ones"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with `only`, just that subcommand's module is imported and configured."""
    parser = argparse.ArgumentParser(
        prog="jsm-bridge",
        description="Support and escalation policies as code for Jira Service Management.",
    )
    parser.add_argument("--version", action="version", version=f"jsm-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            module = importlib.import_module(module_name)
            module.configure(command)
            command.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Import only the chosen subcommand's module: the others may pull in servers and databases.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
