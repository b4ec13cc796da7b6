"""The simulator: scenario loading and its errors, replay by jumps, the text and JSON outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jsm_bridge.cli import main
from jsm_bridge.simulate import (
    ScenarioError,
    expectation_diff,
    load_scenario,
    run_scenario,
    simulate,
)

ROOT = Path(__file__).parent
EXAMPLE = ROOT.parent / "examples" / "capital-bytes-p2.yaml"
POLICY = (ROOT / "policies" / "full.yaml").resolve()


def scenario(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(f"policy: {POLICY}\nuntil: 2026-11-30T17:00:00+00:00\n" + body, encoding="utf-8")
    return path


TICKET = """tickets:
  - key: CB-9
    created: 2026-11-23T09:00:00+00:00
    fields: {summary: Slow, priority: P4, Organisation: Acme, Business impact: Slow pages}
"""


def test_run_scenario_returns_the_actions_in_time_order():
    actions = run_scenario(EXAMPLE)
    assert actions
    assert [a.at for a in actions] == sorted(a.at for a in actions)
    assert {a.ticket for a in actions} == {"CB-1"}


def test_the_simulator_jumps_between_instants_instead_of_ticking(tmp_path):
    result = simulate(load_scenario(scenario(tmp_path, TICKET)))
    # A week of simulated time is visited at a handful of instants, not 10,080 minutes.
    assert result.decisions < 40


def test_actions_change_the_simulated_ticket(tmp_path):
    result = simulate(load_scenario(scenario(tmp_path, TICKET)))
    final = result.tickets["CB-9"]
    assert final.tier == "Development"  # first line after 12h, then two office days later
    assert "CB-9:ack" in final.done


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            TICKET + "    events:\n      - {at: 2026-11-23T10:00:00+00:00, colour: red}\n",
            "tickets[0].events[0].colour",
        ),
        (
            TICKET + "    events:\n      - {at: 2026-11-23T10:00:00+00:00, priority: P9}\n",
            "tickets[0].events[0].priority",
        ),
        (
            TICKET + "    events:\n      - {at: 2026-11-23T10:00:00, status: Open}\n",
            "tickets[0].events[0].at",
        ),
        (
            TICKET + "    events:\n      - {at: 2026-11-22T10:00:00+00:00, status: Open}\n",
            "tickets[0].events[0].at",
        ),
        (TICKET.replace("key: CB-9", "key: ''"), "tickets[0].key"),
        (
            TICKET
            + "    events:\n      - {at: 2026-11-23T10:00:00+00:00, comment: {author: x, public: maybe}}\n",
            "tickets[0].events[0].comment.public",
        ),
    ],
    ids=["unknown-key", "unknown-priority", "no-offset", "before-creation", "no-key", "bad-public"],
)
def test_scenario_errors_name_the_file_and_the_key(tmp_path, body, where):
    path = scenario(tmp_path, body)
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert str(error.value).startswith(f"{path}: {where}: ")


def test_a_missing_policy_is_reported_against_the_policy_key(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("policy: nowhere.yaml\nuntil: 2026-11-30T17:00:00+00:00\n" + TICKET, encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"s\.yaml: policy: no policy file"):
        load_scenario(path)


def test_json_output_is_a_list_of_actions_with_the_contract_fields(capsys):
    assert main(["simulate", str(EXAMPLE), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data and all({"at", "key", "action", "params", "rule", "reason"} <= set(item) for item in data)
    tier = next(item for item in data if item["action"] == "tier")
    assert tier["params"]["to"] == "Systems Engineering"
    comment = next(item for item in data if item["action"] == "comment")
    assert set(comment["params"]) >= {"public", "body"}
    assert tier["at"].endswith("+00:00")


def test_text_output_shows_events_actions_and_reasons(capsys):
    assert main(["simulate", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "· status -> Awaiting third party" in out
    assert "» tier -> Development  [systems-engineering-to-development]" in out
    assert "5h paused while Awaiting third party" in out


def test_a_broken_scenario_exits_1_with_the_error(tmp_path, capsys):
    path = scenario(tmp_path, TICKET.replace("P4", "P9"))
    assert main(["simulate", str(path)]) == 1
    assert "tickets[0].fields.priority" in capsys.readouterr().err


def test_the_expectation_diff_shows_what_differs():
    actions = run_scenario(EXAMPLE)
    expected = [
        {"at": a.at, "key": a.ticket, "action": a.kind, "rule": a.rule, "params": {}} for a in actions
    ]
    assert expectation_diff(expected, actions) is None
    expected[1] = dict(expected[1], rule="some-other-rule")
    diff = expectation_diff(expected, actions)
    assert diff is not None and "-" in diff and "some-other-rule" in diff
    assert expectation_diff(expected[:-1], actions) is not None
