"""Dry run: reads reach Jira, writes are only recorded and logged."""

from __future__ import annotations

import logging

import pytest
import responses

from jsm_bridge.jira import DryRunGateway, JiraConfig, JiraGateway, gateway_from_config
from jsm_bridge.jira.config import CLOUD
from tests.jira_support import make_gateway, url


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_dry_run_records_every_write_and_sends_none(http, caplog):
    caplog.set_level(logging.INFO)
    gateway, _ = make_gateway(CLOUD)
    dry = DryRunGateway(gateway)
    dry.set_priority("CB-1", "Highest")
    dry.transition("CB-1", "Resolved", resolution="Done")
    dry.edit_fields("CB-1", {"Tier": "Support"})
    dry.add_labels("CB-1", ["security"])
    dry.remove_labels("CB-1", ["missing-information"])
    dry.assign("CB-1", "alex")
    dry.add_comment("CB-1", "Hello", public=True, mentions=["manager-1"])
    dry.set_property("CB-1", "jsm-bridge.other", {"a": 1})
    dry.record_done("CB-1", "CB-1:acknowledge")
    assert [w.method for w in dry.writes] == [
        "set_priority",
        "transition",
        "edit_fields",
        "add_labels",
        "remove_labels",
        "assign",
        "add_comment",
        "set_property",
        "record_done",
    ]
    assert dry.writes[1].arguments == {"to": "Resolved", "resolution": "Done", "fields": {}}
    assert len(http.calls) == 0
    assert caplog.text.count("jira.dry_run") == 9


def test_dry_run_reads_from_jira_and_answers_done_keys_with_what_it_recorded(http):
    gateway, _ = make_gateway(CLOUD)
    http.get(
        url(CLOUD, "rest/api/2/issue/CB-1/properties/jsm-bridge.actions"),
        json={"key": "jsm-bridge.actions", "value": ["CB-1:acknowledge"]},
    )
    dry = DryRunGateway(gateway)
    dry.record_done("CB-1", "CB-1:tier:Development")
    assert dry.done_keys("CB-1") == frozenset({"CB-1:acknowledge", "CB-1:tier:Development"})
    assert [c.request.method for c in http.calls] == ["GET"]


def test_the_dry_run_setting_wraps_the_gateway():
    config = JiraConfig(
        url="https://capitalbytes.atlassian.net", user="bot", token="t", flavor="cloud", dry_run=True
    )
    assert isinstance(gateway_from_config(config), DryRunGateway)
    assert isinstance(gateway_from_config(JiraConfig(url="https://x.example", flavor="cloud")), JiraGateway)
