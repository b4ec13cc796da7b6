"""The Data Center flavour: the same site, answered the way Jira Data Center answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from jsm_bridge.sandbox import SandboxServer


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(flavor="datacenter") as server:
        server.state.create_issue({"project": {"key": "CB"}, "summary": "Site down"}, "customer")
        yield server


def test_server_info_says_server(sandbox: SandboxServer) -> None:
    assert requests.get(f"{sandbox.url}/rest/api/2/serverInfo").json()["deploymentType"] == "Server"


def test_users_are_named_by_name_and_key(sandbox: SandboxServer) -> None:
    reporter = requests.get(f"{sandbox.url}/rest/api/2/issue/CB-1").json()["fields"]["reporter"]
    assert reporter["name"] == "customer" and reporter["key"] and "accountId" not in reporter


def test_assignee_is_set_by_name(sandbox: SandboxServer) -> None:
    requests.put(f"{sandbox.url}/rest/api/2/issue/CB-1/assignee", json={"name": "agent"})
    assert (
        requests.get(f"{sandbox.url}/rest/api/2/issue/CB-1").json()["fields"]["assignee"]["name"] == "agent"
    )


def test_changelog_comes_embedded_with_expand_and_without_field_ids(sandbox: SandboxServer) -> None:
    requests.put(f"{sandbox.url}/rest/api/2/issue/CB-1", json={"fields": {"priority": {"name": "High"}}})
    issue = requests.get(f"{sandbox.url}/rest/api/2/issue/CB-1", params={"expand": "changelog"}).json()
    item = issue["changelog"]["histories"][0]["items"][0]
    assert item["field"] == "priority" and "fieldId" not in item
    assert requests.get(f"{sandbox.url}/rest/api/2/issue/CB-1/changelog").status_code == 404


def test_comments_carry_no_jsd_public_but_internal_ones_are_kept_internal(sandbox: SandboxServer) -> None:
    internal = [{"key": "sd.public.comment", "value": {"internal": True}}]
    comment = requests.post(
        f"{sandbox.url}/rest/api/2/issue/CB-1/comment", json={"body": "note", "properties": internal}
    ).json()
    assert "jsdPublic" not in comment
    listed = requests.get(f"{sandbox.url}/rest/servicedeskapi/request/CB-1/comment").json()["values"]
    assert [c["public"] for c in listed] == [False]


def test_personal_access_token_is_checked_when_configured() -> None:
    with SandboxServer(flavor="datacenter", token="pat") as sandbox:
        url = f"{sandbox.url}/rest/api/2/myself"
        assert requests.get(url, headers={"Authorization": "Bearer pat"}).json()["name"] == "agent"
        assert requests.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
