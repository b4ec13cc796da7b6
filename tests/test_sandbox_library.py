"""atlassian-python-api, which the gateway is built on, works against the sandbox as against Jira Cloud."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from atlassian import Jira, ServiceDesk

from jsm_bridge.sandbox import SandboxServer


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def jira(sandbox: SandboxServer) -> Jira:
    return Jira(url=sandbox.url, username="bridge", password="token", cloud=True)


def test_library_creates_and_finds_issues_with_enhanced_jql(jira: Jira) -> None:
    created = jira.issue_create(
        fields={"project": {"key": "CB"}, "summary": "Site down", "issuetype": {"name": "Incident"}}
    )
    found = jira.enhanced_jql("project = CB", fields="summary,status")
    assert [issue["key"] for issue in found["issues"]] == [created["key"]]


def test_library_moves_an_issue_by_status_name(jira: Jira) -> None:
    jira.issue_create(fields={"project": {"key": "CB"}, "summary": "Site down"})
    jira.set_issue_status("CB-1", "Escalated")
    assert jira.get_issue_status("CB-1") == "Escalated"


def test_library_reads_the_paged_changelog(jira: Jira) -> None:
    jira.issue_create(fields={"project": {"key": "CB"}, "summary": "Site down"})
    jira.issue_update("CB-1", {"labels": ["vip"]})
    changelog = jira.get_issue_changelog("CB-1")
    assert changelog["values"][0]["items"][0]["toString"] == "vip"


def test_library_posts_internal_comments_through_service_desk(sandbox: SandboxServer, jira: Jira) -> None:
    jira.issue_create(fields={"project": {"key": "CB"}, "summary": "Site down"})
    desk = ServiceDesk(url=sandbox.url, username="bridge", password="token", cloud=True)
    desk.create_request_comment("CB-1", "manager notified", public=False)
    assert [c["public"] for c in desk.get_request_comments("CB-1")] == [False]


def test_library_sets_and_reads_issue_properties(jira: Jira) -> None:
    jira.issue_create(fields={"project": {"key": "CB"}, "summary": "Site down"})
    jira.set_issue_property("CB-1", "jsm-bridge", {"done": ["CB-1:tier:Development"]})
    assert jira.get_issue_property("CB-1", "jsm-bridge")["value"] == {"done": ["CB-1:tier:Development"]}
