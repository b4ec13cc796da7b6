"""`jsm-bridge demo`: every shipped policy played against the sandbox by the running bridge, its report,
and its verdict against the simulator (exit 0 only when they agree)."""

from __future__ import annotations

import argparse
import dataclasses
import io
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from jsm_bridge import demo
from jsm_bridge.actions import Action
from jsm_bridge.cli import build_parser

pytestmark = pytest.mark.slow

VOID = {"meta", "br", "hr", "img", "link", "input", "col", "wbr", "source", "area", "base"}


class TagChecker(HTMLParser):
    """Balanced tags and no reference to anything outside the file."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.problems.append(f"<{tag} {name}={value}> refers outside the file")
        if tag == "link" or (tag == "script" and any(n == "src" for n, _ in attrs)):
            self.problems.append(f"<{tag}> loads an external asset")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def demo_args(report: Path, *policies: str) -> argparse.Namespace:
    argv = ["demo", "--report", str(report), *[f"--policy={p}" for p in policies]]
    return build_parser("demo").parse_args(argv)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    report = tmp_path_factory.mktemp("demo") / "report.html"
    out = io.StringIO()
    code = demo.run(demo_args(report), out=out)
    return code, out.getvalue(), report


def test_demo_of_every_policy_matches_the_simulator_and_exits_0(full_run: tuple[int, str, Path]) -> None:
    code, output, _ = full_run
    assert code == 0, output
    assert "matches the simulator" in output


def test_demo_plays_every_shipped_policy_but_the_starter() -> None:
    shipped = {p.stem for p in demo.POLICIES_DIR.glob("*.yaml")} - {"starter"}
    assert set(demo.SCENARIOS) == shipped


def test_demo_shows_progress_one_line_per_day(full_run: tuple[int, str, Path]) -> None:
    _, output, _ = full_run
    for day in ("Mon 23 Nov", "Tue 24 Nov", "Wed 25 Nov", "Thu 26 Nov", "Fri 27 Nov"):
        assert sum(line.strip().startswith(day) for line in output.splitlines()) == 1, day


def test_report_is_one_self_contained_html_file(full_run: tuple[int, str, Path]) -> None:
    _, _, report = full_run
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    checker = TagChecker()
    checker.feed(text)
    checker.close()
    assert checker.problems == []
    assert checker.stack == []
    assert "<style>" in text


def test_report_lists_each_policy_ticket_action_and_sla_outcome(full_run: tuple[int, str, Path]) -> None:
    _, _, report = full_run
    checker = TagChecker()
    checker.feed(report.read_text(encoding="utf-8"))
    text = " ".join(checker.text)
    for policy, stems in demo.SCENARIOS.items():
        assert policy in text
        for stem in stems:
            assert stem in text, stem
    for key in ("CB-1", "DOC-1", "CFTS-1", "CTS-1", "HD-1"):
        assert key in text
    for column in ("When", "Action", "Rule", "Reason"):
        assert column in text
    assert "First response" in text and "resolution" in text and "credits:" in text
    assert "Service credit" in text  # capital-bytes' credit for the capped P1
    assert "breached" in text and "met" in text


def _one_hour_late(ticket: demo.DemoTicket, until: datetime) -> list[Action]:
    """The simulator's timeline with the advisory ticket's priority expected an hour later."""
    actions = demo.expected_actions(ticket, until)
    if ticket.scenario.path.stem == "guidance-request-is-advisory":
        actions[0] = dataclasses.replace(actions[0], at=actions[0].at + timedelta(hours=1))
    return actions


def test_a_wrong_expectation_makes_the_demo_print_the_difference_and_exit_1(tmp_path: Path) -> None:
    out = io.StringIO()
    code = demo.run(demo_args(tmp_path / "report.html", "cfts"), expect=_one_hour_late, out=out)
    output = out.getvalue()
    assert code == 1
    (key,) = [line.split()[1] for line in output.splitlines() if line.strip().startswith("DIFF")]
    assert f"{key} (guidance-request-is-advisory) differs from the simulator" in output
    assert output.count("differs from the simulator") == 1
    assert '-Mon 23 Nov 10:00 set_priority [guidance-review-planning] {"priority": "Advisory"}' in output
    assert '+Mon 23 Nov 09:00 set_priority [guidance-review-planning] {"priority": "Advisory"}' in output
    assert "DIFFERS from the simulator" in output
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert '<span class="badge bad">1 differ</span>' in report  # cfts in the overview
    assert "+Mon 23 Nov 09:00 set_priority [guidance-review-planning]" in report


def test_only_the_named_policies_are_played(tmp_path: Path) -> None:
    out = io.StringIO()
    code = demo.run(demo_args(tmp_path / "report.html", "tiered-helpdesk"), out=out)
    output = out.getvalue()
    assert code == 0, output
    assert "HD-1" in output and "CB-1" not in output and "CFTS-1" not in output


def test_the_webhook_is_registered_with_the_scopes_and_a_secret_and_unsigned_posts_are_refused(
    tmp_path: Path,
) -> None:
    policies = [t.policy for t in demo.load_plan(["cfts", "cts"])]
    running = demo.start(list({p.name: p for p in policies}.values()), tmp_path)
    try:
        (webhook,) = running.sandbox.state.webhooks.values()
        assert webhook.url == f"{running.url}/webhooks/jira"
        assert webhook.secret
        assert webhook.jql == "(project = CFTS) OR (project = CTS)"
        unsigned = requests.post(f"{running.url}/webhooks/jira", json={"webhookEvent": "jira:issue_created"})
        assert unsigned.status_code == 401
    finally:
        running.stop()
