"""Webhooks: registered through Jira's admin API, sent like Jira Cloud (or Data Center) to a local listener."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from jsm_bridge.clock import ManualClock
from jsm_bridge.sandbox import Faults, SandboxServer
from jsm_bridge.sandbox.testing import WebhookListener

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ALL_EVENTS = [
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(clock=ManualClock(START), webhook_retry_delays=(0.05, 0.05, 0.05)) as server:
        yield server


@pytest.fixture
def listener() -> Iterator[WebhookListener]:
    with WebhookListener() as receiver:
        yield receiver


def register(
    sandbox: SandboxServer, url: str, jql: str = "", secret: str | None = None, events=ALL_EVENTS
) -> dict:
    body = {"name": "bridge", "url": url, "events": events, "filters": {"issue-related-events-section": jql}}
    if secret:
        body["secret"] = secret
    response = requests.post(f"{sandbox.url}/rest/webhooks/1.0/webhook", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def create(sandbox: SandboxServer, project: str = "CB", **fields: object) -> str:
    body = {"fields": {"project": {"key": project}, "summary": "Site down", **fields}}
    return str(requests.post(f"{sandbox.url}/rest/api/2/issue", json=body).json()["key"])


def test_webhook_admin_registers_lists_updates_and_deletes(sandbox: SandboxServer) -> None:
    created = register(sandbox, "http://127.0.0.1:9/hook", jql="project = CB", secret="s")
    assert created["self"].endswith("/rest/webhooks/1.0/webhook/1")
    assert created["filters"] == {"issue-related-events-section": "project = CB"}
    assert "secret" not in created
    url = created["self"]
    assert [w["name"] for w in requests.get(f"{sandbox.url}/rest/webhooks/1.0/webhook").json()] == ["bridge"]
    updated = requests.put(url, json={**created, "name": "renamed"}).json()
    assert updated["name"] == "renamed"
    assert requests.delete(url).status_code == 204
    assert requests.get(url).status_code == 404


def test_webhook_with_bad_jql_filter_is_refused(sandbox: SandboxServer) -> None:
    body = {
        "name": "x",
        "url": "http://127.0.0.1:9/",
        "events": ALL_EVENTS,
        "filters": {"issue-related-events-section": "sprint = 1"},
    }
    response = requests.post(f"{sandbox.url}/rest/webhooks/1.0/webhook", json=body)
    assert response.status_code == 400 and "filters" in response.json()["errors"]


def test_issue_created_is_delivered_in_cloud_shape(sandbox: SandboxServer, listener: WebhookListener) -> None:
    register(sandbox, listener.url)
    create(sandbox, priority={"name": "High"})
    delivery = listener.wait_for(1)[0]
    body = delivery.json()
    assert body["webhookEvent"] == "jira:issue_created"
    assert body["issue_event_type_name"] == "issue_created"
    assert body["timestamp"] == int(START.timestamp() * 1000)
    assert body["issue"]["key"] == "CB-1"
    assert body["issue"]["fields"]["priority"]["name"] == "High"
    assert "accountId" in body["user"]
    assert delivery.headers["X-Atlassian-Webhook-Identifier"]
    assert "X-Atlassian-Webhook-Retry" not in delivery.headers
    assert "X-Hub-Signature" not in delivery.headers


def test_status_change_arrives_as_issue_updated_with_changelog_items(
    sandbox: SandboxServer, listener: WebhookListener
) -> None:
    create(sandbox)
    register(sandbox, listener.url)
    requests.post(f"{sandbox.url}/rest/api/2/issue/CB-1/transitions", json={"transition": {"id": "51"}})
    body = listener.wait_for(1)[0].json()
    assert body["webhookEvent"] == "jira:issue_updated"
    assert body["issue_event_type_name"] == "issue_generic"
    assert body["changelog"]["items"] == [
        {
            "field": "status",
            "fieldtype": "jira",
            "fieldId": "status",
            "from": "1",
            "fromString": "Open",
            "to": "10020",
            "toString": "Escalated",
        }
    ]
    assert body["issue"]["fields"]["status"]["name"] == "Escalated"


def test_assignment_is_an_issue_assigned_event(sandbox: SandboxServer, listener: WebhookListener) -> None:
    create(sandbox)
    register(sandbox, listener.url)
    requests.put(f"{sandbox.url}/rest/api/2/issue/CB-1/assignee", json={"accountId": "agent-7"})
    body = listener.wait_for(1)[0].json()
    assert body["issue_event_type_name"] == "issue_assigned"
    item = body["changelog"]["items"][0]
    assert item["fieldId"] == "assignee" and item["to"] == body["issue"]["fields"]["assignee"]["accountId"]


def test_comment_created_carries_issue_and_jsd_public_on_cloud(
    sandbox: SandboxServer, listener: WebhookListener
) -> None:
    create(sandbox)
    register(sandbox, listener.url, events=["comment_created"])
    requests.post(
        f"{sandbox.url}/rest/servicedeskapi/request/CB-1/comment", json={"body": "note", "public": False}
    )
    body = listener.wait_for(1)[0].json()
    assert body["webhookEvent"] == "comment_created"
    assert body["comment"]["body"] == "note" and body["comment"]["jsdPublic"] is False
    assert body["issue"]["key"] == "CB-1" and body["issue"]["fields"]["status"]["name"] == "Open"


def test_issue_deleted_is_delivered(sandbox: SandboxServer, listener: WebhookListener) -> None:
    create(sandbox)
    register(sandbox, listener.url, events=["jira:issue_deleted"])
    requests.delete(f"{sandbox.url}/rest/api/2/issue/CB-1")
    assert listener.wait_for(1)[0].json()["webhookEvent"] == "jira:issue_deleted"


def test_secret_signs_the_raw_body_with_hmac_sha256(
    sandbox: SandboxServer, listener: WebhookListener
) -> None:
    register(sandbox, listener.url, secret="It's a Secret to Everybody")
    create(sandbox)
    delivery = listener.wait_for(1)[0]
    expected = hmac.new(b"It's a Secret to Everybody", delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["X-Hub-Signature"] == f"sha256={expected}"


def test_jql_filter_decides_which_issues_are_sent(sandbox: SandboxServer, listener: WebhookListener) -> None:
    register(sandbox, listener.url, jql="project = CB AND priority in (Highest, High)")
    create(sandbox, "OPS", priority={"name": "Highest"})
    create(sandbox, "CB", priority={"name": "Low"})
    create(sandbox, "CB", priority={"name": "High"})
    assert sandbox.wait_for_webhooks()
    assert [d.json()["issue"]["key"] for d in listener.received] == ["CB-2"]


def test_only_registered_events_are_sent(sandbox: SandboxServer, listener: WebhookListener) -> None:
    register(sandbox, listener.url, events=["comment_created"])
    create(sandbox)
    requests.post(f"{sandbox.url}/rest/api/2/issue/CB-1/comment", json={"body": "hello"})
    assert sandbox.wait_for_webhooks()
    assert [d.json()["webhookEvent"] for d in listener.received] == ["comment_created"]


def test_failed_delivery_is_retried_with_the_same_identifier() -> None:
    with (
        SandboxServer(webhook_retry_delays=(0.05, 0.05, 0.05)) as sandbox,
        WebhookListener(statuses=[503, 429]) as listener,
    ):
        register(sandbox, listener.url)
        create(sandbox)
        first, second, third = listener.wait_for(3)
        assert sandbox.wait_for_webhooks()
    identifiers = {d.headers["X-Atlassian-Webhook-Identifier"] for d in (first, second, third)}
    assert len(identifiers) == 1
    assert [d.headers.get("X-Atlassian-Webhook-Retry") for d in (first, second, third)] == [None, "1", "2"]
    assert first.body == third.body
    assert [d.outcome for d in sandbox.state.deliveries] == ["retry", "retry", "delivered"]


def test_retries_are_bounded() -> None:
    with (
        SandboxServer(webhook_retry_delays=(0.02, 0.02)) as sandbox,
        WebhookListener(statuses=[500] * 10) as listener,
    ):
        register(sandbox, listener.url)
        create(sandbox)
        assert sandbox.wait_for_webhooks()
    assert len(listener.received) == 3
    assert sandbox.state.deliveries[-1].outcome == "failed"


def test_client_errors_are_not_retried(sandbox: SandboxServer) -> None:
    with WebhookListener(statuses=[400]) as listener:
        register(sandbox, listener.url)
        create(sandbox)
        assert sandbox.wait_for_webhooks()
    assert len(listener.received) == 1


def test_unreachable_listener_is_retried_then_given_up(sandbox: SandboxServer) -> None:
    register(sandbox, "http://127.0.0.1:9/unreachable")
    create(sandbox)
    assert sandbox.wait_for_webhooks()
    assert [d.outcome for d in sandbox.state.deliveries] == ["retry", "retry", "retry", "failed"]


def test_duplicate_fault_delivers_twice_with_one_identifier(
    sandbox: SandboxServer, listener: WebhookListener
) -> None:
    sandbox.faults = Faults(webhook_duplicate=1.0)
    register(sandbox, listener.url)
    create(sandbox)
    first, second = listener.wait_for(2)
    assert first.headers["X-Atlassian-Webhook-Identifier"] == second.headers["X-Atlassian-Webhook-Identifier"]


def test_drop_fault_loses_the_delivery(sandbox: SandboxServer, listener: WebhookListener) -> None:
    sandbox.faults = Faults(webhook_drop=1.0)
    register(sandbox, listener.url)
    create(sandbox)
    assert sandbox.wait_for_webhooks()
    assert listener.received == []
    assert sandbox.state.deliveries[-1].outcome == "dropped"


def test_changes_made_in_python_fire_webhooks_too(sandbox: SandboxServer, listener: WebhookListener) -> None:
    register(sandbox, listener.url, events=["jira:issue_updated"])
    sandbox.state.create_issue({"project": {"key": "CB"}, "summary": "x"}, "agent")
    sandbox.state.update_issue("CB-1", {"labels": ["vip"]}, None, "agent")
    assert listener.wait_for(1)[0].json()["changelog"]["items"][0]["toString"] == "vip"


def test_data_center_shapes_differ_as_jira_data_center_does(listener: WebhookListener) -> None:
    with SandboxServer(flavor="datacenter", clock=ManualClock(START)) as sandbox:
        register(sandbox, listener.url)
        create(sandbox)
        requests.put(f"{sandbox.url}/rest/api/2/issue/CB-1", json={"fields": {"priority": {"name": "High"}}})
        requests.post(f"{sandbox.url}/rest/api/2/issue/CB-1/comment", json={"body": "hello"})
        created, updated, commented = listener.wait_for(3)
    assert (
        "name" in created.json()["user"]
        and "key" in created.json()["user"]
        and "accountId" not in created.json()["user"]
    )
    assert "fieldId" not in updated.json()["changelog"]["items"][0]
    comment_event = commented.json()
    assert comment_event["webhookEvent"] == "comment_created"
    assert "issue" not in comment_event and "jsdPublic" not in comment_event["comment"]
    issue_id = sandbox.state.issue("CB-1").id
    assert f"/rest/api/2/issue/{issue_id}/comment/" in comment_event["comment"]["self"]
    assert "X-Atlassian-Webhook-Identifier" not in created.headers


def test_legacy_comment_events_arrive_as_issue_updated(listener: WebhookListener) -> None:
    with SandboxServer(legacy_comment_events=True) as sandbox:
        register(sandbox, listener.url, events=["jira:issue_updated"])
        create(sandbox)
        requests.post(f"{sandbox.url}/rest/api/2/issue/CB-1/comment", json={"body": "hello"})
        body = listener.wait_for(1)[0].json()
    assert body["webhookEvent"] == "jira:issue_updated"
    assert body["issue_event_type_name"] == "issue_commented"
    assert body["comment"]["body"] == "hello"
