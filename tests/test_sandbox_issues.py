"""The sandbox answers Jira's issue, field and property paths with Jira Cloud's JSON, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from jsm_bridge.clock import ManualClock
from jsm_bridge.sandbox import SandboxServer

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(clock=ManualClock(START)) as server:
        yield server


def create(sandbox: SandboxServer, **fields: object) -> str:
    body = {"fields": {"project": {"key": "CB"}, "summary": "Site down", **fields}}
    response = requests.post(f"{sandbox.url}/rest/api/2/issue", json=body, auth=("agent", "token"))
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def get(sandbox: SandboxServer, path: str, **params: object) -> requests.Response:
    return requests.get(f"{sandbox.url}{path}", params=params, auth=("agent", "token"))


def test_server_info_says_cloud() -> None:
    with SandboxServer() as sandbox:
        info = get(sandbox, "/rest/api/2/serverInfo").json()
    assert info["deploymentType"] == "Cloud"
    assert info["baseUrl"] == sandbox.url


def test_myself_is_the_basic_auth_user(sandbox: SandboxServer) -> None:
    me = requests.get(f"{sandbox.url}/rest/api/2/myself", auth=("bridge", "token")).json()
    assert me["displayName"] == "jsm-bridge automation"
    assert "accountId" in me and "name" not in me


def test_created_issue_reads_back_with_jira_field_shapes(sandbox: SandboxServer) -> None:
    key = create(
        sandbox,
        description="Orders fail",
        priority={"name": "High"},
        labels=["web"],
        issuetype={"name": "Incident"},
        reporter={"accountId": "customer-1"},
        customfield_10050={"value": "Support"},
        customfield_10051="Capital Bytes",
    )
    issue = get(sandbox, f"/rest/api/2/issue/{key}").json()
    fields = issue["fields"]
    assert issue["key"] == "CB-1" and issue["id"].isdigit()
    assert fields["summary"] == "Site down" and fields["description"] == "Orders fail"
    assert fields["priority"]["name"] == "High" and fields["priority"]["id"]
    assert fields["status"]["name"] == "Open" and fields["status"]["statusCategory"]["key"] == "new"
    assert fields["labels"] == ["web"]
    assert fields["issuetype"]["name"] == "Incident"
    assert fields["reporter"]["accountId"] == "customer-1"
    assert fields["customfield_10050"]["value"] == "Support"
    assert fields["customfield_10051"] == "Capital Bytes"
    assert fields["created"] == "2026-11-23T09:00:00.000+0000"
    assert fields["resolution"] is None and fields["assignee"] is None
    assert fields["comment"]["total"] == 0


def test_keys_count_up_per_project(sandbox: SandboxServer) -> None:
    assert [create(sandbox), create(sandbox), create(sandbox)] == ["CB-1", "CB-2", "CB-3"]


def test_create_without_summary_answers_400_with_field_error(sandbox: SandboxServer) -> None:
    response = requests.post(f"{sandbox.url}/rest/api/2/issue", json={"fields": {"project": {"key": "CB"}}})
    assert response.status_code == 400
    assert "summary" in response.json()["errors"]


def test_unknown_field_answers_400(sandbox: SandboxServer) -> None:
    response = requests.post(
        f"{sandbox.url}/rest/api/2/issue",
        json={"fields": {"project": {"key": "CB"}, "summary": "x", "customfield_99999": "y"}},
    )
    assert response.status_code == 400
    assert "customfield_99999" in response.json()["errors"]


def test_v3_gives_description_as_adf(sandbox: SandboxServer) -> None:
    key = create(sandbox, description="Line one\nLine two")
    description = get(sandbox, f"/rest/api/3/issue/{key}").json()["fields"]["description"]
    assert description["type"] == "doc" and description["version"] == 1
    assert description["content"][1]["content"][0]["text"] == "Line two"


def test_fields_parameter_limits_the_fields(sandbox: SandboxServer) -> None:
    key = create(sandbox)
    fields = get(sandbox, f"/rest/api/2/issue/{key}", fields="summary,status").json()["fields"]
    assert set(fields) == {"summary", "status"}


def test_update_sets_fields_and_applies_label_verbs(sandbox: SandboxServer) -> None:
    key = create(sandbox, labels=["web", "old"])
    sandbox.clock.advance(timedelta(minutes=5))
    response = requests.put(
        f"{sandbox.url}/rest/api/2/issue/{key}",
        json={
            "fields": {"priority": {"name": "Highest"}, "customfield_10050": {"value": "Development"}},
            "update": {"labels": [{"add": "escalated"}, {"remove": "old"}]},
        },
    )
    assert response.status_code == 204
    fields = get(sandbox, f"/rest/api/2/issue/{key}").json()["fields"]
    assert fields["priority"]["name"] == "Highest"
    assert fields["labels"] == ["web", "escalated"]
    assert fields["customfield_10050"]["value"] == "Development"
    assert fields["updated"] == "2026-11-23T09:05:00.000+0000"


def test_update_records_one_changelog_entry_with_an_item_per_field(sandbox: SandboxServer) -> None:
    key = create(sandbox)
    requests.put(
        f"{sandbox.url}/rest/api/2/issue/{key}",
        json={"fields": {"priority": {"name": "High"}, "customfield_10050": {"value": "Support"}}},
    )
    page = get(sandbox, f"/rest/api/2/issue/{key}/changelog").json()
    assert page["total"] == 1 and page["isLast"] is True
    items = {item["fieldId"]: item for item in page["values"][0]["items"]}
    assert items["priority"]["fromString"] == "Medium" and items["priority"]["toString"] == "High"
    assert (
        items["customfield_10050"]["field"] == "Tier" and items["customfield_10050"]["fieldtype"] == "custom"
    )


def test_changelog_is_paged(sandbox: SandboxServer) -> None:
    key = create(sandbox)
    for priority in ("High", "Low", "Highest"):
        requests.put(
            f"{sandbox.url}/rest/api/2/issue/{key}", json={"fields": {"priority": {"name": priority}}}
        )
    first = get(sandbox, f"/rest/api/2/issue/{key}/changelog", maxResults=2).json()
    second = get(sandbox, f"/rest/api/2/issue/{key}/changelog", maxResults=2, startAt=2).json()
    assert (first["total"], first["isLast"], len(first["values"])) == (3, False, 2)
    assert (second["isLast"], len(second["values"])) == (True, 1)


def test_expand_changelog_embeds_histories(sandbox: SandboxServer) -> None:
    key = create(sandbox)
    requests.put(f"{sandbox.url}/rest/api/2/issue/{key}", json={"fields": {"summary": "Site down again"}})
    issue = get(sandbox, f"/rest/api/2/issue/{key}", expand="changelog").json()
    assert issue["changelog"]["histories"][0]["items"][0]["toString"] == "Site down again"


def test_assignee_endpoint_assigns_and_unassigns(sandbox: SandboxServer) -> None:
    key = create(sandbox)
    agent = get(sandbox, "/rest/api/2/myself").json()["accountId"]
    assert (
        requests.put(f"{sandbox.url}/rest/api/2/issue/{key}/assignee", json={"accountId": agent}).status_code
        == 204
    )
    assert get(sandbox, f"/rest/api/2/issue/{key}").json()["fields"]["assignee"]["accountId"] == agent
    requests.put(f"{sandbox.url}/rest/api/2/issue/{key}/assignee", json={"accountId": None})
    assert get(sandbox, f"/rest/api/2/issue/{key}").json()["fields"]["assignee"] is None


def test_deleted_issue_answers_404_in_jira_error_shape(sandbox: SandboxServer) -> None:
    key = create(sandbox)
    assert requests.delete(f"{sandbox.url}/rest/api/2/issue/{key}").status_code == 204
    response = get(sandbox, f"/rest/api/2/issue/{key}")
    assert response.status_code == 404
    assert response.json()["errorMessages"]


def test_issue_properties_round_trip(sandbox: SandboxServer) -> None:
    key = create(sandbox)
    url = f"{sandbox.url}/rest/api/2/issue/{key}/properties/jsm-bridge"
    assert requests.put(url, json={"done": ["CB-1:tier:Development"]}).status_code == 201
    assert requests.put(url, json={"done": ["a", "b"]}).status_code == 200
    assert requests.get(url).json() == {"key": "jsm-bridge", "value": {"done": ["a", "b"]}}
    assert [k["key"] for k in get(sandbox, f"/rest/api/2/issue/{key}/properties").json()["keys"]] == [
        "jsm-bridge"
    ]
    assert requests.delete(url).status_code == 204
    assert requests.get(url).status_code == 404


def test_priorities_are_listed_in_order(sandbox: SandboxServer) -> None:
    names = [p["name"] for p in get(sandbox, "/rest/api/2/priority").json()]
    assert names[:5] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert "Critical" in names


def test_fields_list_custom_fields_with_ids_names_and_schema(sandbox: SandboxServer) -> None:
    fields = {f["name"]: f for f in get(sandbox, "/rest/api/2/field").json()}
    tier = fields["Tier"]
    assert tier["id"].startswith("customfield_1") and tier["custom"] is True
    assert tier["schema"]["type"] == "option"
    for name in ("Organisation", "Affected service", "Business impact", "Users affected", "Request Type"):
        assert fields[name]["custom"] is True
    assert fields["Summary"]["custom"] is False


def test_unknown_path_answers_404_in_jira_error_shape(sandbox: SandboxServer) -> None:
    response = get(sandbox, "/rest/api/2/nothing-here")
    assert response.status_code == 404
    assert "errorMessages" in response.json()


def test_configured_token_refuses_other_tokens_with_401() -> None:
    with SandboxServer(token="s3cret") as sandbox:
        url = f"{sandbox.url}/rest/api/2/myself"
        assert requests.get(url, auth=("agent", "wrong")).status_code == 401
        assert requests.get(url).status_code == 401
        assert requests.get(url, auth=("agent", "s3cret")).status_code == 200
        assert requests.get(url, headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_any_credentials_are_accepted_without_a_configured_token(sandbox: SandboxServer) -> None:
    assert (
        requests.get(f"{sandbox.url}/rest/api/2/myself", headers={"Authorization": "Bearer x"}).status_code
        == 200
    )


def test_select_field_with_listed_options_refuses_others() -> None:
    from jsm_bridge.sandbox import Catalog, CustomField

    catalog = Catalog().with_custom_fields(
        CustomField("customfield_10100", "Region", "select", ("EMEA", "APAC"))
    )
    with SandboxServer(catalog=catalog) as sandbox:
        url = f"{sandbox.url}/rest/api/2/issue"
        base = {"project": {"key": "CB"}, "summary": "x"}
        assert (
            requests.post(url, json={"fields": {**base, "customfield_10100": {"value": "EMEA"}}}).status_code
            == 201
        )
        refused = requests.post(url, json={"fields": {**base, "customfield_10100": {"value": "Mars"}}})
        assert refused.status_code == 400 and "customfield_10100" in refused.json()["errors"]


def test_request_type_reads_as_a_service_desk_request_type(sandbox: SandboxServer) -> None:
    key = create(sandbox, customfield_10010="Report a system problem")
    value = get(sandbox, f"/rest/api/2/issue/{key}", fields="customfield_10010").json()["fields"][
        "customfield_10010"
    ]
    assert value["requestType"]["name"] == "Report a system problem"


def test_expand_names_maps_field_ids_to_names(sandbox: SandboxServer) -> None:
    key = create(sandbox)
    names = get(
        sandbox, f"/rest/api/2/issue/{key}", fields="summary,customfield_10050", expand="names"
    ).json()["names"]
    assert names == {"summary": "Summary", "customfield_10050": "Tier"}


def test_concurrent_clients_get_distinct_keys(sandbox: SandboxServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(lambda _: create(sandbox), range(40)))
    assert sorted(created, key=lambda k: int(k.split("-")[1])) == [f"CB-{n}" for n in range(1, 41)]
