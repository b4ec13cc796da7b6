"""The gateway's operations against Jira's documented JSON, for Cloud and Data Center (HTTP via `responses`)."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
import responses
from responses import matchers

from jsm_bridge.actions import BOT_AUTHOR
from jsm_bridge.jira.config import CLOUD, DATA_CENTER
from jsm_bridge.jira.errors import FieldNotFound, TransitionNotAvailable
from jsm_bridge.policy import load_policy
from tests.jira_support import CLOUD_URL, TOKEN, fixture, make_gateway, url

POLICY = Path(__file__).parent / "policies" / "full.yaml"


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def body_of(call) -> object:
    return json.loads(call.request.body)


def issue_state(status: str, project: str = "CB", issuetype: str = "10003") -> dict:
    return {
        "id": "10042",
        "key": "CB-1",
        "fields": {
            "status": {"name": status, "id": "1"},
            "project": {"key": project, "id": "10000"},
            "issuetype": {"id": issuetype, "name": "Incident"},
        },
    }


# -- flavour and credentials ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture_name", "flavor"), [("cloud_server_info.json", CLOUD), ("dc_server_info.json", DATA_CENTER)]
)
def test_flavor_is_detected_from_server_info_deployment_type(http, fixture_name, flavor):
    gateway, _ = make_gateway(None)
    http.get(f"{CLOUD_URL}/rest/api/2/serverInfo", json=fixture(fixture_name))
    assert gateway.flavor == flavor
    assert gateway.flavor == flavor
    assert len(http.calls) == 1


def test_cloud_signs_requests_with_email_and_api_token(http):
    gateway, _ = make_gateway(CLOUD)
    http.get(url(CLOUD, "rest/api/2/serverInfo"), json=fixture("cloud_server_info.json"))
    gateway.server_info()
    expected = base64.b64encode(f"bot@capitalbytes.example:{TOKEN}".encode()).decode()
    assert http.calls[0].request.headers["Authorization"] == f"Basic {expected}"


def test_data_center_without_user_sends_the_personal_access_token_as_bearer(http):
    gateway, _ = make_gateway(DATA_CENTER)
    http.get(url(DATA_CENTER, "rest/api/2/serverInfo"), json=fixture("dc_server_info.json"))
    info = gateway.server_info()
    assert http.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert info.version == "9.12.15" and info.flavor == DATA_CENTER


def test_the_library_is_configured_never_to_sleep_or_retry_by_itself():
    gateway, _ = make_gateway(CLOUD)
    for client in (gateway._jira, gateway._service_desk):
        assert client.backoff_and_retry is False
        assert client.retry_with_header is False
        assert client.max_backoff_seconds <= 30
        assert client.timeout == 30


# -- search -----------------------------------------------------------------------------------------


def test_cloud_search_follows_next_page_token_until_the_last_page(http):
    gateway, _ = make_gateway(CLOUD)
    endpoint = url(CLOUD, "rest/api/2/search/jql")
    pages = [
        (
            {"jql": "project = CB", "fields": "status,priority", "maxResults": "2"},
            ["CB-1", "CB-2"],
            "t1",
            False,
        ),
        ({"nextPageToken": "t1"}, ["CB-3", "CB-4"], "t2", False),
        ({"nextPageToken": "t2"}, ["CB-5"], None, True),
    ]
    for params, keys, token, last in pages:
        page = {"issues": [{"id": k[3:], "key": k, "fields": {}} for k in keys], "isLast": last}
        if token:
            page["nextPageToken"] = token
        http.get(endpoint, json=page, match=[matchers.query_param_matcher(params, strict_match=False)])
    issues = list(gateway.search("project = CB", fields=["status", "priority"], page_size=2))
    assert [i["key"] for i in issues] == ["CB-1", "CB-2", "CB-3", "CB-4", "CB-5"]
    assert len(http.calls) == 3
    assert all("startAt" not in c.request.url for c in http.calls)


def test_data_center_search_pages_with_start_at_until_total(http):
    gateway, _ = make_gateway(DATA_CENTER)
    endpoint = url(DATA_CENTER, "rest/api/2/search")
    for start, keys in ((0, ["CB-1", "CB-2"]), (2, ["CB-3", "CB-4"]), (4, ["CB-5"])):
        page = {
            "startAt": start,
            "maxResults": 2,
            "total": 5,
            "issues": [{"key": k, "fields": {}} for k in keys],
        }
        http.get(
            endpoint,
            json=page,
            match=[
                matchers.query_param_matcher({"startAt": str(start), "maxResults": "2"}, strict_match=False)
            ],
        )
    assert list(gateway.search_keys("project = CB", page_size=2)) == ["CB-1", "CB-2", "CB-3", "CB-4", "CB-5"]
    assert len(http.calls) == 3


def test_data_center_search_stops_on_an_empty_page_even_without_total(http):
    gateway, _ = make_gateway(DATA_CENTER)
    http.get(url(DATA_CENTER, "rest/api/2/search"), json={"startAt": 0, "issues": []})
    assert list(gateway.search("project = CB")) == []


def test_cloud_search_stops_when_a_page_token_repeats(http):
    gateway, _ = make_gateway(CLOUD)
    http.get(url(CLOUD, "rest/api/2/search/jql"), json={"issues": [{"key": "CB-1"}], "nextPageToken": "same"})
    assert len(list(gateway.search_keys("project = CB"))) == 2
    assert len(http.calls) == 2


# -- reading one issue ------------------------------------------------------------------------------


def _serve_cloud_issue(http) -> None:
    http.get(
        url(CLOUD, "rest/api/2/issue/CB-1"),
        json=fixture("cloud_issue.json"),
        match=[matchers.query_param_matcher({"expand": "names"}, strict_match=False)],
    )
    changelog = url(CLOUD, "rest/api/2/issue/CB-1/changelog")
    http.get(
        changelog,
        json=fixture("cloud_changelog_page1.json"),
        match=[matchers.query_param_matcher({"startAt": "0"}, strict_match=False)],
    )
    http.get(
        changelog,
        json=fixture("cloud_changelog_page2.json"),
        match=[matchers.query_param_matcher({"startAt": "2"}, strict_match=False)],
    )
    http.get(
        url(CLOUD, "rest/api/2/issue/CB-1/comment"),
        json=fixture("cloud_comments.json"),
        match=[matchers.query_param_matcher({"expand": "properties", "startAt": "0"}, strict_match=False)],
    )


def test_cloud_fetch_issue_reads_every_changelog_page_and_every_comment(http):
    gateway, _ = make_gateway(CLOUD)
    _serve_cloud_issue(http)
    issue = gateway.fetch_issue("CB-1")
    assert [h["id"] for h in issue["changelog"]["histories"]] == ["20001", "20002", "20003", "20004"]
    comments = issue["fields"]["comment"]["comments"]
    assert [c["id"] for c in comments] == ["30001", "30002", "30003"]
    assert comments[1]["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]


def test_data_center_fetch_issue_takes_the_changelog_from_expand(http):
    gateway, _ = make_gateway(DATA_CENTER)
    http.get(
        url(DATA_CENTER, "rest/api/2/issue/CB-7"),
        json=fixture("dc_issue.json"),
        match=[matchers.query_param_matcher({"expand": "names,changelog"}, strict_match=False)],
    )
    http.get(url(DATA_CENTER, "rest/api/2/issue/CB-7/comment"), json=fixture("dc_comments.json"))
    issue = gateway.fetch_issue("CB-7")
    assert len(issue["changelog"]["histories"]) == 4
    assert len(issue["fields"]["comment"]["comments"]) == 2
    assert not any("/changelog" in c.request.url for c in http.calls)


def test_fetch_ticket_builds_the_ticket_with_the_done_keys_from_the_issue_property(http):
    gateway, _ = make_gateway(CLOUD)
    _serve_cloud_issue(http)
    http.get(
        url(CLOUD, "rest/api/2/issue/CB-1/properties/jsm-bridge.actions"),
        json={"key": "jsm-bridge.actions", "value": ["CB-1:acknowledge"]},
    )
    http.get(url(CLOUD, "rest/api/2/field"), json=fixture("fields.json"))
    http.get(url(CLOUD, "rest/api/2/myself"), json={"accountId": "bridge-account", "displayName": "Bridge"})
    ticket = gateway.fetch_ticket("CB-1", load_policy(POLICY))
    assert ticket.key == "CB-1" and ticket.priority == "P1" and ticket.status == "In Progress"
    assert ticket.done == frozenset({"CB-1:acknowledge"})
    assert ticket.tier == "Systems Engineering"


def test_fetch_ticket_gives_the_bridges_own_comments_the_bridges_author(http):
    gateway, _ = make_gateway(CLOUD)
    _serve_cloud_issue(http)
    http.get(url(CLOUD, "rest/api/2/issue/CB-1/properties/jsm-bridge.actions"), status=404)
    http.get(url(CLOUD, "rest/api/2/field"), json=fixture("fields.json"))
    agent = "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"  # the agent of the fixture's comments
    http.get(url(CLOUD, "rest/api/2/myself"), json={"accountId": agent, "displayName": "Bridge"})
    ticket = gateway.fetch_ticket("CB-1", load_policy(POLICY))
    assert {c.author for c in ticket.comments if c.role == "agent"} == {BOT_AUTHOR}
    gateway.fetch_ticket("CB-1", load_policy(POLICY))
    assert sum(c.request.url.endswith("/myself") for c in http.calls) == 1  # asked once


# -- writes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", [CLOUD, DATA_CENTER])
def test_set_priority_puts_the_jira_priority_name(http, flavor):
    gateway, _ = make_gateway(flavor)
    http.put(url(flavor, "rest/api/2/issue/CB-1"), status=204)
    gateway.set_priority("CB-1", "Highest")
    assert body_of(http.calls[0]) == {"fields": {"priority": {"name": "Highest"}}}


def _serve_transitions(http, status: str = "Open") -> None:
    http.get(url(CLOUD, "rest/api/2/issue/CB-1"), json=issue_state(status))
    http.get(
        url(CLOUD, "rest/api/2/issue/CB-1/transitions"),
        json=fixture("transitions.json"),
        match=[matchers.query_param_matcher({"expand": "transitions.fields"})],
    )
    http.post(url(CLOUD, "rest/api/2/issue/CB-1/transitions"), status=204)


def test_transition_is_found_by_its_transition_name(http):
    gateway, _ = make_gateway(CLOUD)
    _serve_transitions(http)
    assert gateway.transition("CB-1", "escalate") is True
    assert body_of(http.calls[-1]) == {"transition": {"id": "31"}}


def test_transition_is_found_by_its_target_status_in_any_case(http):
    gateway, _ = make_gateway(CLOUD)
    _serve_transitions(http)
    gateway.transition("CB-1", "WAITING FOR CUSTOMER")
    assert body_of(http.calls[-1]) == {"transition": {"id": "41"}}


def test_transition_sets_the_resolution_and_fields_on_the_transition(http):
    gateway, _ = make_gateway(CLOUD)
    _serve_transitions(http)
    http.get(url(CLOUD, "rest/api/2/field"), json=fixture("fields.json"))
    gateway.transition("CB-1", "Resolved", resolution="Done", fields={"support tier": "Development"})
    assert body_of(http.calls[-1]) == {
        "transition": {"id": "51"},
        "fields": {"resolution": {"name": "Done"}, "customfield_10050": {"value": "Development"}},
    }


def test_a_resolution_is_left_out_when_the_transition_screen_has_no_such_field(http, caplog):
    caplog.set_level(logging.INFO)
    gateway, _ = make_gateway(CLOUD)
    _serve_transitions(http)
    gateway.transition("CB-1", "Escalate", resolution="Done")
    assert body_of(http.calls[-1]) == {"transition": {"id": "31"}}
    assert "jira.not_acting" in caplog.text and "resolution is not on the transition screen" in caplog.text


def test_a_missing_transition_raises_naming_the_available_ones(http):
    gateway, _ = make_gateway(CLOUD)
    _serve_transitions(http)
    with pytest.raises(TransitionNotAvailable) as caught:
        gateway.transition("CB-1", "Closed")
    message = str(caught.value)
    assert "CB-1" in message and "'Closed'" in message and "'Open'" in message
    assert "Escalate (to Escalated)" in message and "Resolve this issue (to Resolved)" in message
    assert not [c for c in http.calls if c.request.method == "POST"]


def test_transition_to_the_current_status_sends_nothing(http):
    gateway, _ = make_gateway(CLOUD)
    _serve_transitions(http, status="Waiting for customer")
    assert gateway.transition("CB-1", "waiting for customer") is False
    assert [c.request.method for c in http.calls] == ["GET"]


def test_transitions_are_cached_per_workflow_and_status(http):
    gateway, _ = make_gateway(CLOUD)
    _serve_transitions(http)
    gateway.transition("CB-1", "Escalate")
    gateway.transition("CB-1", "Start progress")
    transition_reads = [
        c for c in http.calls if c.request.method == "GET" and "/transitions" in c.request.url
    ]
    assert len(transition_reads) == 1


def test_a_transition_already_made_by_name_is_not_repeated(http):
    gateway, _ = make_gateway(CLOUD)
    _serve_transitions(http)
    gateway.transition("CB-1", "Escalate")
    http.replace(responses.GET, url(CLOUD, "rest/api/2/issue/CB-1"), json=issue_state("Escalated"))
    assert gateway.transition("CB-1", "Escalate") is False


def test_edit_fields_resolves_names_in_any_case_and_shapes_values_by_schema(http):
    gateway, _ = make_gateway(CLOUD)
    http.get(url(CLOUD, "rest/api/2/field"), json=fixture("fields.json"))
    http.put(url(CLOUD, "rest/api/2/issue/CB-1"), status=204)
    gateway.edit_fields(
        "CB-1",
        {
            "SUPPORT TIER": "Development",
            "Affected teams": ["Web", "Payments"],
            "customfield_10080": "12.5",
            "Business impact": "Orders lost",
            "Duty manager": "557058:f58131cb",
        },
    )
    gateway.edit_fields("CB-1", {"Users affected": "All users"})
    assert body_of(http.calls[1]) == {
        "fields": {
            "customfield_10050": {"value": "Development"},
            "customfield_10070": [{"value": "Web"}, {"value": "Payments"}],
            "customfield_10080": 12.5,
            "customfield_10090": "Orders lost",
            "customfield_10095": {"accountId": "557058:f58131cb"},
        }
    }
    assert body_of(http.calls[2]) == {"fields": {"customfield_10060": {"value": "All users"}}}
    assert sum(1 for c in http.calls if c.request.url.endswith("/rest/api/2/field")) == 1


def test_data_center_user_fields_are_set_by_name(http):
    gateway, _ = make_gateway(DATA_CENTER)
    http.get(url(DATA_CENTER, "rest/api/2/field"), json=fixture("fields.json"))
    http.put(url(DATA_CENTER, "rest/api/2/issue/CB-7"), status=204)
    gateway.edit_fields("CB-7", {"Duty manager": "alex"})
    assert body_of(http.calls[1]) == {"fields": {"customfield_10095": {"name": "alex"}}}


def test_an_unknown_field_raises_field_not_found_with_suggestions(http):
    gateway, _ = make_gateway(CLOUD)
    http.get(url(CLOUD, "rest/api/2/field"), json=fixture("fields.json"))
    with pytest.raises(FieldNotFound) as caught:
        gateway.edit_fields("CB-1", {"Support tire": "Development"})
    assert "Support tier" in str(caught.value)
    assert len(http.calls) == 1


def test_labels_are_added_and_removed_with_update_verbs(http):
    gateway, _ = make_gateway(CLOUD)
    http.put(url(CLOUD, "rest/api/2/issue/CB-1"), status=204)
    gateway.add_labels("CB-1", ["security", "flagged"])
    gateway.remove_labels("CB-1", ["missing-information"])
    assert body_of(http.calls[0]) == {"update": {"labels": [{"add": "security"}, {"add": "flagged"}]}}
    assert body_of(http.calls[1]) == {"update": {"labels": [{"remove": "missing-information"}]}}


def test_no_labels_means_no_request(http):
    gateway, _ = make_gateway(CLOUD)
    gateway.add_labels("CB-1", [])
    assert len(http.calls) == 0


@pytest.mark.parametrize(
    ("flavor", "user", "expected"),
    [
        (CLOUD, "557058:f58131cb", {"accountId": "557058:f58131cb"}),
        (DATA_CENTER, "alex", {"name": "alex"}),
        (CLOUD, None, {"accountId": None}),
    ],
)
def test_assign_uses_account_id_on_cloud_and_name_on_data_center(http, flavor, user, expected):
    gateway, _ = make_gateway(flavor)
    http.put(url(flavor, "rest/api/2/issue/CB-1/assignee"), status=204)
    gateway.assign("CB-1", user)
    assert body_of(http.calls[0]) == expected


# -- comments ---------------------------------------------------------------------------------------


def test_an_internal_comment_on_a_request_goes_through_the_service_desk_api(http):
    gateway, _ = make_gateway(CLOUD)
    http.get(url(CLOUD, "rest/servicedeskapi/request/CB-1"), json={"issueKey": "CB-1"})
    http.post(
        url(CLOUD, "rest/servicedeskapi/request/CB-1/comment"),
        status=201,
        json={"id": "30010", "public": False},
    )
    assert gateway.add_comment("CB-1", "Escalating to Development.", public=False) == "30010"
    assert body_of(http.calls[-1]) == {"body": "Escalating to Development.", "public": False}


def test_a_comment_on_an_issue_that_is_no_request_uses_the_platform_api_with_the_internal_property(http):
    gateway, _ = make_gateway(DATA_CENTER)
    http.get(
        url(DATA_CENTER, "rest/servicedeskapi/request/OPS-3"), status=404, json={"errorMessage": "No request"}
    )
    http.post(url(DATA_CENTER, "rest/api/2/issue/OPS-3/comment"), status=201, json={"id": "777"})
    assert gateway.add_comment("OPS-3", "Internal note", public=False) == "777"
    assert body_of(http.calls[-1]) == {
        "body": "Internal note",
        "properties": [{"key": "sd.public.comment", "value": {"internal": True}}],
    }
    http.post(url(DATA_CENTER, "rest/api/2/issue/OPS-4/comment"), status=201, json={"id": "778"})
    gateway.add_comment("OPS-4", "Public note", public=True)
    assert body_of(http.calls[-1]) == {"body": "Public note"}
    assert len([c for c in http.calls if "servicedeskapi" in c.request.url]) == 1


def test_a_comment_with_an_action_key_carries_it_and_its_visibility_as_comment_properties_in_one_request(
    http,
):
    gateway, _ = make_gateway(CLOUD)
    http.post(url(CLOUD, "rest/api/2/issue/CB-1/comment"), status=201, json={"id": "30011"})
    assert (
        gateway.add_comment("CB-1", "Escalating.", public=False, action_key="CB-1:tier:Development")
        == "30011"
    )
    assert len(http.calls) == 1  # no service desk look-up: the platform API takes both properties
    assert body_of(http.calls[0]) == {
        "body": "Escalating.",
        "properties": [
            {"key": "sd.public.comment", "value": {"internal": True}},
            {"key": "jsm-bridge.action", "value": {"key": "CB-1:tier:Development"}},
        ],
    }


def test_the_action_keys_of_an_issues_comments_are_read_from_their_properties(http):
    gateway, _ = make_gateway(CLOUD)
    http.get(
        url(CLOUD, "rest/api/2/issue/CB-1/comment"),
        json={
            "startAt": 0,
            "total": 3,
            "comments": [
                {"id": "1", "properties": [{"key": "jsm-bridge.action", "value": {"key": "CB-1:ack"}}]},
                {"id": "2", "properties": [{"key": "sd.public.comment", "value": {"internal": True}}]},
                {"id": "3"},
            ],
        },
    )
    assert gateway.comment_action_keys("CB-1") == frozenset({"CB-1:ack"})
    assert "expand=properties" in http.calls[0].request.url


def test_mentions_are_written_as_account_ids_on_cloud():
    gateway, _ = make_gateway(CLOUD)
    text = gateway.render_mentions("Please look, [~manager-1].", ["manager-1", "lead-2"])
    assert text == "[~accountid:lead-2]\nPlease look, [~accountid:manager-1]."


def test_mentions_are_written_as_names_on_data_center():
    gateway, _ = make_gateway(DATA_CENTER)
    assert gateway.render_mentions("Hi [~accountid:alex]", ["alex"]) == "Hi [~alex]"


# -- properties, done keys, SLAs ----------------------------------------------------------------------


def test_a_missing_property_reads_as_none(http):
    gateway, _ = make_gateway(CLOUD)
    http.get(
        url(CLOUD, "rest/api/2/issue/CB-1/properties/jsm-bridge.actions"),
        status=404,
        json={"errorMessages": ["The property with key 'jsm-bridge.actions' does not exist."], "errors": {}},
    )
    assert gateway.get_property("CB-1", "jsm-bridge.actions") is None
    assert gateway.done_keys("CB-1") == frozenset()


def test_record_done_appends_the_key_and_keeps_the_newest_500(http):
    gateway, _ = make_gateway(CLOUD)
    prop = url(CLOUD, "rest/api/2/issue/CB-1/properties/jsm-bridge.actions")
    http.get(prop, json={"key": "jsm-bridge.actions", "value": [f"CB-1:k{i}" for i in range(500)]})
    http.put(prop, status=200)
    kept = [f"CB-1:k{i}" for i in range(1, 500)] + ["CB-1:tier:Development"]
    http.get(prop, json={"key": "jsm-bridge.actions", "value": kept})
    gateway.record_done("CB-1", "CB-1:tier:Development")
    written = body_of(next(c for c in http.calls if c.request.method == "PUT"))
    assert len(written) == 500 and written[0] == "CB-1:k1" and written[-1] == "CB-1:tier:Development"
    assert [c.request.method for c in http.calls] == ["GET", "PUT", "GET"]  # read back to confirm


def test_record_done_writes_again_merged_when_a_concurrent_writer_replaced_the_list(http):
    gateway, _ = make_gateway(CLOUD)
    prop = url(CLOUD, "rest/api/2/issue/CB-1/properties/jsm-bridge.actions")
    http.get(prop, json={"key": "jsm-bridge.actions", "value": ["CB-1:ack"]})
    http.put(prop, status=200)
    # Read back: another instance wrote its list (without our key) at the same time.
    http.get(prop, json={"key": "jsm-bridge.actions", "value": ["CB-1:ack", "CB-1:label"]})
    http.get(prop, json={"key": "jsm-bridge.actions", "value": ["CB-1:ack", "CB-1:label"]})
    http.put(prop, status=200)
    http.get(prop, json={"key": "jsm-bridge.actions", "value": ["CB-1:ack", "CB-1:label", "CB-1:tier"]})
    gateway.record_done("CB-1", "CB-1:tier")
    puts = [body_of(c) for c in http.calls if c.request.method == "PUT"]
    assert puts == [["CB-1:ack", "CB-1:tier"], ["CB-1:ack", "CB-1:label", "CB-1:tier"]]


def test_record_done_does_not_write_a_key_already_there(http):
    gateway, _ = make_gateway(CLOUD)
    prop = url(CLOUD, "rest/api/2/issue/CB-1/properties/jsm-bridge.actions")
    http.get(prop, json={"key": "jsm-bridge.actions", "value": ["CB-1:acknowledge"]})
    gateway.record_done("CB-1", "CB-1:acknowledge")
    assert [c.request.method for c in http.calls] == ["GET"]


def test_request_sla_parses_jsm_cycles(http):
    gateway, _ = make_gateway(CLOUD)
    http.get(url(CLOUD, "rest/servicedeskapi/request/CB-1/sla"), json=fixture("sla.json"))
    first, resolution = gateway.request_sla("CB-1")
    assert first.name == "Time to first response" and first.ongoing is None
    assert first.completed[0].elapsed is not None and first.completed[0].elapsed.total_seconds() == 1800
    assert resolution.ongoing is not None and resolution.ongoing.breached is True
    assert resolution.ongoing.goal is not None and resolution.ongoing.goal.total_seconds() == 86400
    assert resolution.ongoing.breach_time is not None and resolution.ongoing.breach_time.tzinfo is not None


@pytest.mark.parametrize("flavor", [CLOUD, DATA_CENTER])
def test_search_can_ask_for_expanded_parts_and_issue_properties(http, flavor):
    gateway, _ = make_gateway(flavor)
    path = "rest/api/2/search/jql" if flavor == CLOUD else "rest/api/2/search"
    wanted = {"expand": "changelog,names", "properties": "jsm-bridge.actions", "fields": "status"}
    http.get(
        url(flavor, path),
        json={"issues": [{"key": "CB-1"}], "isLast": True, "total": 1},
        match=[matchers.query_param_matcher(wanted, strict_match=False)],
    )
    found = gateway.search(
        "project = CB", ["status"], expand=["changelog", "names"], properties=["jsm-bridge.actions"]
    )
    assert [i["key"] for i in found] == ["CB-1"]
