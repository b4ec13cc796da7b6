"""`jsm-bridge validate POLICY...`: check policy files and folders, one line per policy or per problem.

Exit 0 when every policy is valid; otherwise print `FILE:LINE:COL: KEY.PATH: message` lines and exit 1."""

from __future__ import annotations

import argparse
import os
import sys

from jsm_bridge.policy.loader import POLICIES_ENV, Problem, collect_policies
from jsm_bridge.policy.model import Policy


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "policies",
        nargs="*",
        metavar="POLICY",
        help=f"policy files or folders of them (default: the files and folders in {POLICIES_ENV})",
    )


def run(args: argparse.Namespace) -> int:
    names: list[str] = list(args.policies) or [p for p in os.environ.get(POLICIES_ENV, "").split(":") if p]
    if not names:
        print(f"jsm-bridge validate: name policy files or folders, or set {POLICIES_ENV}", file=sys.stderr)
        return 2
    try:
        policies, problems = collect_policies(names)
    except Exception as exc:  # the edge: a bug must not become a traceback for an admin
        problems = [Problem(names[0], 1, 1, "", f"internal error while validating: {exc!r}")]
        policies = []
    for policy in policies:
        print(summary(policy))
    for problem in problems:
        print(problem)
    sys.stdout.flush()
    return 1 if problems else 0


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def rule_count(policy: Policy) -> int:
    """Rules in the policy: every listed rule, plus each single-rule section that is present."""
    spec = policy.spec
    listed = len(spec.classify) + len(spec.escalate) + len(spec.notify) + len(spec.flags)
    if spec.validate_ is not None:
        listed += len(spec.validate_.all_rules())
    singles = (spec.acknowledge, spec.updates, spec.stale, spec.feedback, spec.credits)
    return listed + sum(1 for s in singles if s is not None)


def summary(policy: Policy) -> str:
    """`policies/capital-bytes.yaml: ok: capital-bytes, 5 priorities, 3 tiers, 2 calendars, 14 rules`."""
    spec = policy.spec
    parts = [
        spec.policy,
        _count(len(spec.priorities), "priority").replace("prioritys", "priorities"),
        _count(len(spec.tiers), "tier"),
        _count(len(spec.calendars), "calendar"),
        _count(rule_count(policy), "rule"),
    ]
    return f"{policy.path}: ok: {', '.join(parts)}"
