"""The executor: each action kind becomes the right gateway calls, then its key is recorded as done."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses

from jsm_bridge.actions import (
    ACTIONS,
    AddComment,
    Assign,
    Label,
    MoveToTier,
    SetField,
    SetPriority,
    Transition,
)
from jsm_bridge.jira.client import JiraGateway
from jsm_bridge.jira.config import CLOUD
from jsm_bridge.jira.dryrun import DryRunGateway, RecordedWrite
from jsm_bridge.jira.errors import JiraUnavailable
from jsm_bridge.jira.executor import HANDLERS, execute
from jsm_bridge.jira.gateway import Gateway
from jsm_bridge.policy import load_policy
from tests.jira_support import TOKEN, fixture, make_gateway, url

POLICY = load_policy(Path(__file__).parent / "policies" / "full.yaml")
AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
COMMON = {"ticket": "CB-1", "rule": "test-rule", "reason": "because the policy says so", "at": AT}


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def recorder(http) -> DryRunGateway:
    # Reads would go to the mocked transport, which answers none: every write must be recorded only.
    gateway, _ = make_gateway(CLOUD)
    return DryRunGateway(gateway)


def test_every_action_kind_has_an_executor():
    assert set(HANDLERS) == set(ACTIONS)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (
            SetPriority(key="k1", priority="P1", **COMMON),
            RecordedWrite("set_priority", "CB-1", {"priority": "Highest"}),
        ),
        (
            Transition(key="k2", status="Resolved", resolution="Done", fields={"Tier": "Support"}, **COMMON),
            RecordedWrite(
                "transition",
                "CB-1",
                {"to": "Resolved", "resolution": "Done", "fields": {"customfield_10050": "Support"}},
            ),
        ),
        (
            AddComment(key="k3", body="Update", public=False, mentions=("manager-1",), **COMMON),
            RecordedWrite(
                "add_comment",
                "CB-1",
                {"body": "Update", "public": False, "mentions": ["manager-1"], "action_key": "k3"},
            ),
        ),
        (Assign(key="k4", assignee="alex", **COMMON), RecordedWrite("assign", "CB-1", {"user": "alex"})),
        (
            SetField(key="k5", field="Users affected", value="All users", **COMMON),
            RecordedWrite("edit_fields", "CB-1", {"values": {"customfield_10060": "All users"}}),
        ),
    ],
    ids=["set_priority", "transition", "comment", "assign", "set_field"],
)
def test_each_action_kind_makes_its_write_then_records_its_key(recorder, action, expected):
    execute(action, recorder, POLICY)
    assert recorder.writes[0] == expected
    assert recorder.writes[-1].method == "record_done"
    assert recorder.writes[-1].arguments["action_key"] == action.key
    assert len(recorder.writes) == 2


def test_a_label_action_adds_and_removes(recorder):
    execute(Label(key="k6", add=("security",), remove=("missing-information",), **COMMON), recorder, POLICY)
    assert [w.method for w in recorder.writes] == ["add_labels", "remove_labels", "record_done"]
    assert recorder.writes[0].arguments == {"labels": ["security"]}
    assert recorder.writes[1].arguments == {"labels": ["missing-information"]}


def test_a_tier_move_performs_its_effects_in_order_and_records_only_its_own_key(recorder):
    effects = (
        SetField(key="t", field="Tier", value="Development", **COMMON),
        Transition(key="t", status="Escalated", **COMMON),
    )
    execute(
        MoveToTier(key="CB-1:tier:Development", to="Development", effects=effects, **COMMON), recorder, POLICY
    )
    assert [w.method for w in recorder.writes] == ["edit_fields", "transition", "record_done"]
    assert recorder.writes[0].arguments == {"values": {"customfield_10050": "Development"}}
    assert recorder.writes[2].arguments["action_key"] == "CB-1:tier:Development"


def test_a_tier_move_without_effects_takes_them_from_the_policys_tier(recorder):
    execute(MoveToTier(key="CB-1:tier:Development", to="Development", **COMMON), recorder, POLICY)
    assert [(w.method, dict(w.arguments)) for w in recorder.writes[:2]] == [
        ("edit_fields", {"values": {"customfield_10050": "Development"}}),
        ("transition", {"to": "Escalated", "resolution": None, "fields": {}}),
    ]


def test_a_failed_write_is_not_recorded_as_done(http):
    gateway, _ = make_gateway(CLOUD)
    http.put(url(CLOUD, "rest/api/2/issue/CB-1"), status=503)
    with pytest.raises(JiraUnavailable):
        execute(SetPriority(key="k1", priority="P2", **COMMON), gateway, POLICY)
    assert [c.request.method for c in http.calls] == ["PUT"]


def test_a_tier_move_over_http_sets_the_field_then_transitions(http):
    gateway, _ = make_gateway(CLOUD)
    issue = url(CLOUD, "rest/api/2/issue/CB-1")
    prop = url(CLOUD, "rest/api/2/issue/CB-1/properties/jsm-bridge.actions")
    http.get(url(CLOUD, "rest/api/2/field"), json=fixture("fields.json"))
    http.put(issue, status=204)
    http.get(
        issue,
        json={
            "key": "CB-1",
            "fields": {
                "status": {"name": "In Progress"},
                "project": {"key": "CB"},
                "issuetype": {"id": "10003"},
            },
        },
    )
    http.get(url(CLOUD, "rest/api/2/issue/CB-1/transitions"), json=fixture("transitions.json"))
    http.post(url(CLOUD, "rest/api/2/issue/CB-1/transitions"), status=204)
    http.get(prop, status=404, json={"errorMessages": ["no property"]})
    http.put(prop, status=201)
    http.get(prop, json={"key": "jsm-bridge.actions", "value": ["CB-1:tier:Development"]})  # read back
    execute(MoveToTier(key="CB-1:tier:Development", to="Development", **COMMON), gateway, POLICY)
    writes = [
        (c.request.method, c.request.url.split("/rest/")[1], json.loads(c.request.body))
        for c in http.calls
        if c.request.method != "GET"
    ]
    assert writes == [
        ("PUT", "api/2/issue/CB-1", {"fields": {"customfield_10050": {"value": "Development"}}}),
        ("POST", "api/2/issue/CB-1/transitions", {"transition": {"id": "31"}}),
        ("PUT", "api/2/issue/CB-1/properties/jsm-bridge.actions", ["CB-1:tier:Development"]),
    ]


def test_each_write_is_logged_with_its_ticket_and_rule_and_never_the_token(http, caplog):
    caplog.set_level(logging.INFO, logger="jsm_bridge.jira")
    gateway, _ = make_gateway(CLOUD)
    http.put(url(CLOUD, "rest/api/2/issue/CB-1"), status=204)
    prop = url(CLOUD, "rest/api/2/issue/CB-1/properties/jsm-bridge.actions")
    http.get(prop, status=404, json={"errorMessages": ["no property"]})
    http.put(prop, status=201)
    http.get(prop, json={"key": "jsm-bridge.actions", "value": ["CB-1:classify"]})  # read back
    execute(SetPriority(key="CB-1:classify", priority="P1", **COMMON), gateway, POLICY)
    writes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("jira.write")]
    assert writes == [
        "jira.write method=PUT endpoint=rest/api/2/issue/{key} ticket=CB-1 rule=test-rule",
        "jira.write method=PUT endpoint=rest/api/2/issue/{key}/properties/{name} ticket=CB-1 rule=test-rule",
    ]
    assert any("jira.action ticket=CB-1 rule=test-rule action=set_priority" in m for m in caplog.messages)
    assert TOKEN not in caplog.text


def test_the_gateway_protocol_is_met_by_both_gateways():
    wanted = {name for name in vars(Gateway) if not name.startswith("_")}
    for cls in (JiraGateway, DryRunGateway):
        assert wanted <= set(dir(cls)), cls


class PropertyWriteFails(DryRunGateway):
    """Writes are recorded; writing the done key fails as Jira would when it is briefly down."""

    def record_done(self, key: str, action_key: str) -> None:
        raise JiraUnavailable("PUT .../properties/jsm-bridge.actions: Jira answered 503", status=503)


def test_an_action_whose_done_key_cannot_be_written_still_counts_as_done(caplog):
    gateway = PropertyWriteFails(make_gateway(CLOUD)[0])
    with caplog.at_level(logging.WARNING, logger="jsm_bridge.jira.executor"):
        execute(Label(key="CB-1:label", add=("triaged",), **COMMON), gateway, POLICY)  # does not raise
    assert [w.method for w in gateway.writes] == ["add_labels"]
    assert any(r.getMessage().startswith("jira.record_done_failed") for r in caplog.records)
