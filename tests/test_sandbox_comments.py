"""Comments, public and internal, through the platform API and the service desk API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from jsm_bridge.clock import ManualClock
from jsm_bridge.sandbox import SandboxServer

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
INTERNAL = [{"key": "sd.public.comment", "value": {"internal": True}}]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(clock=ManualClock(START)) as server:
        server.state.create_issue({"project": {"key": "CB"}, "summary": "Site down"}, "customer")
        yield server


def comment_url(sandbox: SandboxServer, version: int = 2) -> str:
    return f"{sandbox.url}/rest/api/{version}/issue/CB-1/comment"


def sd_url(sandbox: SandboxServer) -> str:
    return f"{sandbox.url}/rest/servicedeskapi/request/CB-1/comment"


def test_platform_comment_is_public_by_default(sandbox: SandboxServer) -> None:
    response = requests.post(comment_url(sandbox), json={"body": "Looking into it"}, auth=("agent", "t"))
    assert response.status_code == 201
    comment = response.json()
    assert comment["jsdPublic"] is True and comment["body"] == "Looking into it"
    assert comment["author"]["displayName"] == "Alex Agent"
    assert comment["created"] == "2026-11-23T09:00:00.000+0000"


def test_sd_public_comment_property_makes_a_platform_comment_internal(sandbox: SandboxServer) -> None:
    comment = requests.post(comment_url(sandbox), json={"body": "Escalating", "properties": INTERNAL}).json()
    assert comment["jsdPublic"] is False
    listed = requests.get(comment_url(sandbox), params={"expand": "properties"}).json()
    assert listed["total"] == 1
    assert listed["comments"][0]["properties"] == INTERNAL


def test_service_desk_api_posts_internal_and_public_comments(sandbox: SandboxServer) -> None:
    internal = requests.post(sd_url(sandbox), json={"body": "Manager notified", "public": False})
    public = requests.post(sd_url(sandbox), json={"body": "We are on it", "public": True})
    assert internal.status_code == public.status_code == 201
    assert internal.json()["public"] is False and public.json()["public"] is True
    assert internal.json()["created"]["jira"] == "2026-11-23T09:00:00.000+0000"
    platform = requests.get(comment_url(sandbox)).json()["comments"]
    assert [c["jsdPublic"] for c in platform] == [False, True]


def test_service_desk_api_lists_comments_with_public_flag_and_filters(sandbox: SandboxServer) -> None:
    requests.post(sd_url(sandbox), json={"body": "internal note", "public": False})
    requests.post(comment_url(sandbox), json={"body": "public reply"})
    everything = requests.get(sd_url(sandbox)).json()
    assert [(c["body"], c["public"]) for c in everything["values"]] == [
        ("internal note", False),
        ("public reply", True),
    ]
    assert everything["isLastPage"] is True and everything["size"] == 2
    only_public = requests.get(sd_url(sandbox), params={"internal": "false"}).json()
    assert [c["body"] for c in only_public["values"]] == ["public reply"]


def test_v3_comment_bodies_are_adf_and_adf_input_is_accepted(sandbox: SandboxServer) -> None:
    adf = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}],
    }
    requests.post(comment_url(sandbox, 3), json={"body": adf})
    assert requests.get(comment_url(sandbox, 2)).json()["comments"][0]["body"] == "Hi"
    assert requests.get(comment_url(sandbox, 3)).json()["comments"][0]["body"]["type"] == "doc"


def test_comment_can_be_edited_and_deleted(sandbox: SandboxServer) -> None:
    comment_id = requests.post(comment_url(sandbox), json={"body": "tpyo"}).json()["id"]
    edited = requests.put(f"{comment_url(sandbox)}/{comment_id}", json={"body": "typo"})
    assert edited.status_code == 200 and edited.json()["body"] == "typo"
    assert requests.delete(f"{comment_url(sandbox)}/{comment_id}").status_code == 204
    assert requests.get(f"{comment_url(sandbox)}/{comment_id}").status_code == 404


def test_empty_comment_answers_400(sandbox: SandboxServer) -> None:
    assert requests.post(comment_url(sandbox), json={"body": "  "}).status_code == 400


def test_comment_on_missing_issue_answers_404(sandbox: SandboxServer) -> None:
    response = requests.post(f"{sandbox.url}/rest/servicedeskapi/request/CB-99/comment", json={"body": "x"})
    assert response.status_code == 404


def test_sla_lists_first_response_and_resolution_cycles(sandbox: SandboxServer) -> None:
    sla = requests.get(f"{sandbox.url}/rest/servicedeskapi/request/CB-1/sla").json()
    names = [v["name"] for v in sla["values"]]
    assert names == ["Time to first response", "Time to resolution"]
    assert sla["values"][0]["ongoingCycle"]["breached"] is False
