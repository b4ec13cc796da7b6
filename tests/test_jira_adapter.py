"""Jira issue JSON to Ticket: realistic Cloud and Data Center issues with changelogs and comments."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jsm_bridge.actions import BOT_AUTHOR
from jsm_bridge.jira.adapter import ticket_from_issue
from jsm_bridge.jira.config import CLOUD, DATA_CENTER
from jsm_bridge.policy import load_policy
from jsm_bridge.ticket import Change
from tests.jira_support import fixture

POLICY = load_policy(Path(__file__).parent / "policies" / "full.yaml")
CUSTOMER = "5b10ac8d82e05b22cc7d4ef5"
AGENT = "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def cloud_issue() -> dict:
    issue = fixture("cloud_issue.json")
    issue["changelog"] = {
        "histories": fixture("cloud_changelog_page1.json")["values"]
        + fixture("cloud_changelog_page2.json")["values"]
    }
    issue["fields"]["comment"] = fixture("cloud_comments.json")
    return issue


@pytest.fixture
def dc_issue() -> dict:
    issue = fixture("dc_issue.json")
    issue["fields"]["comment"] = fixture("dc_comments.json")
    return issue


# -- Cloud ------------------------------------------------------------------------------------------


def test_cloud_snapshot_uses_policy_priority_names_and_account_ids(cloud_issue):
    ticket = ticket_from_issue(cloud_issue, POLICY, CLOUD, frozenset({"CB-1:acknowledge"}))
    assert ticket.key == "CB-1"
    assert ticket.created == at("2026-11-23T09:00:00")
    assert (ticket.status, ticket.priority) == ("In Progress", "P1")
    assert (ticket.reporter, ticket.assignee) == (CUSTOMER, AGENT)
    assert ticket.labels == frozenset({"checkout", "escalated"})
    assert ticket.done == frozenset({"CB-1:acknowledge"})
    assert ticket.request_type == "Report a system problem"


def test_cloud_fields_are_plain_data_under_policy_name_display_name_and_id(cloud_issue):
    ticket = ticket_from_issue(cloud_issue, POLICY, CLOUD)
    assert ticket.field_value("Users affected") == "All users"
    assert ticket.field_value("Tier") == "Systems Engineering"
    assert ticket.field_value("Support tier") == "Systems Engineering"
    assert ticket.field_value("customfield_10050") == "Systems Engineering"
    assert ticket.field_value("Affected teams") == ["Web", "Payments"]
    assert ticket.field_value("business impact") == "Orders cannot be placed"
    assert ticket.field_value("Service credit") is None
    assert ticket.field_value("components") == ["Payments"]
    assert ticket.field_value("project") == "CB"
    assert ticket.field_value("Issue Type") == "Incident"
    assert ticket.field_value("description").startswith("Since 08:30 every checkout fails.")


def test_the_tier_is_the_last_policy_tier_whose_fields_the_issue_has(cloud_issue):
    assert ticket_from_issue(cloud_issue, POLICY, CLOUD).tier == "Systems Engineering"
    cloud_issue["fields"]["customfield_10050"] = None
    assert ticket_from_issue(cloud_issue, POLICY, CLOUD).tier is None


def test_cloud_changelog_becomes_changes_with_policy_names(cloud_issue):
    changes = ticket_from_issue(cloud_issue, POLICY, CLOUD).changes
    automation = "557058:automation"
    assert Change(at("2026-11-23T09:00:05.123"), "priority", "P3", "P2", automation) in changes
    assert (
        Change(at("2026-11-23T09:00:05.123"), "Tier", "Support", "Systems Engineering", automation) in changes
    )
    assert Change(at("2026-11-23T10:00:00"), "status", "Open", "In Progress", AGENT) in changes
    assert (
        Change(at("2026-11-24T10:00:00"), "labels", ["checkout"], ["checkout", "escalated"], AGENT) in changes
    )
    assert Change(at("2026-11-24T10:00:00"), "assignee", None, AGENT, AGENT) in changes
    assert Change(at("2026-11-24T15:00:00"), "priority", "P2", "P1", AGENT) in changes
    assert (
        Change(at("2026-11-24T15:00:00"), "Business impact", None, "Orders cannot be placed", AGENT)
        in changes
    )


def test_tier_moves_are_replayed_from_the_tier_field_history(cloud_issue):
    ticket = ticket_from_issue(cloud_issue, POLICY, CLOUD)
    assert ticket.history("tier") == (
        Change(
            at("2026-11-23T09:00:05.123"), "tier", "Support Team", "Systems Engineering", "557058:automation"
        ),
    )


def test_cloud_comments_carry_role_and_jsm_visibility(cloud_issue):
    comments = ticket_from_issue(cloud_issue, POLICY, CLOUD).comments
    assert [(c.id, c.role, c.public) for c in comments] == [
        ("30001", "agent", True),
        ("30002", "agent", False),
        ("30003", "customer", True),
    ]
    assert comments[2].author == CUSTOMER and comments[2].body == "Any news?"


def test_v3_text_in_atlassian_document_format_is_read_as_plain_text(cloud_issue):
    cloud_issue["fields"]["description"] = fixture("adf_comment.json")
    cloud_issue["fields"]["comment"]["comments"][0]["body"] = fixture("adf_comment.json")
    ticket = ticket_from_issue(cloud_issue, POLICY, CLOUD)
    assert ticket.field_value("description").startswith("Hello @Dana Customer, the fix is deployed.")
    assert ticket.comments[0].body.endswith("Ref ORD-991")


# -- Data Center ------------------------------------------------------------------------------------


def test_data_center_snapshot_uses_user_names(dc_issue):
    ticket = ticket_from_issue(dc_issue, POLICY, DATA_CENTER)
    assert (ticket.status, ticket.priority, ticket.tier) == ("Awaiting third party", "P3", "Development")
    assert (ticket.reporter, ticket.assignee) == ("dana", "alex")
    assert ticket.request_type == "Get IT help"


def test_data_center_changelog_without_field_ids_is_matched_by_name_in_any_case(dc_issue):
    changes = ticket_from_issue(dc_issue, POLICY, DATA_CENTER).changes
    assert Change(at("2026-11-20T09:00:00"), "status", "Open", "In Progress", "alex") in changes
    assert Change(at("2026-11-22T16:00:00"), "priority", "P2", "P3", "alex") in changes
    assert Change(at("2026-11-22T16:00:00"), "Tier", "Systems Engineering", "Development", "alex") in changes


def test_data_center_assignee_keys_in_the_changelog_become_user_names(dc_issue):
    changes = ticket_from_issue(dc_issue, POLICY, DATA_CENTER).history("assignee")
    assert changes == (Change(at("2026-11-20T09:00:00"), "assignee", None, "alex", "alex"),)


def test_data_center_tier_history_has_every_move(dc_issue):
    moves = [(c.at, c.old, c.new) for c in ticket_from_issue(dc_issue, POLICY, DATA_CENTER).history("tier")]
    assert moves == [
        (at("2026-11-20T08:20:00"), "Support Team", "Systems Engineering"),
        (at("2026-11-22T16:00:00"), "Systems Engineering", "Development"),
    ]


def test_a_translated_field_name_is_matched_through_the_sites_field_list(dc_issue):
    dc_issue["changelog"]["histories"][1]["items"][0]["field"] = "Statut"
    ticket = ticket_from_issue(dc_issue, POLICY, DATA_CENTER, field_ids={"statut": "status"})
    assert [c.new for c in ticket.history("status")] == ["In Progress", "Awaiting third party"]


def test_data_center_comments_by_the_reporter_are_the_customers(dc_issue):
    comments = ticket_from_issue(dc_issue, POLICY, DATA_CENTER).comments
    assert [(c.author, c.role, c.public) for c in comments] == [
        ("dana", "customer", True),
        ("alex", "agent", False),
    ]


# -- null and missing values ------------------------------------------------------------------------


def test_an_issue_with_nulls_everywhere_still_reads():
    issue = {
        "key": "CB-9",
        "fields": {
            "status": None,
            "priority": None,
            "assignee": None,
            "reporter": None,
            "labels": None,
            "created": "2026-11-23T09:00:00.000+0000",
            "customfield_10050": None,
            "comment": {
                "comments": [
                    {"id": "1", "author": None, "body": None, "created": "2026-11-23T10:00:00.000+0000"}
                ]
            },
        },
        "changelog": {
            "histories": [
                {
                    "created": "2026-11-23T09:30:00.000+0000",
                    "author": None,
                    "items": [{"field": "assignee"}, {}],
                }
            ]
        },
    }
    ticket = ticket_from_issue(issue, POLICY, CLOUD)
    assert (ticket.status, ticket.priority, ticket.assignee, ticket.reporter, ticket.tier) == (
        "",
        None,
        None,
        None,
        None,
    )
    assert ticket.comments[0].body == "" and ticket.comments[0].role == "agent"
    assert ticket.history("assignee")[0].new is None


def test_an_issue_with_almost_nothing_still_reads():
    ticket = ticket_from_issue({"key": "CB-10"}, POLICY, DATA_CENTER)
    assert ticket.key == "CB-10" and ticket.changes == () and ticket.comments == ()


def test_an_unknown_jira_priority_has_no_policy_name(cloud_issue):
    issue = copy.deepcopy(cloud_issue)
    issue["fields"]["priority"] = {"name": "Blocker", "id": "9"}
    assert ticket_from_issue(issue, POLICY, CLOUD).priority is None


def test_changes_are_in_time_order_with_each_tier_move_after_its_cause(dc_issue):
    changes = ticket_from_issue(dc_issue, POLICY, DATA_CENTER).changes
    assert [c.at for c in changes] == sorted(c.at for c in changes)
    fields = [c.field for c in changes if c.at == at("2026-11-22T16:00:00")]
    assert fields == ["Tier", "priority", "tier"]


# -- the bridge's own account -----------------------------------------------------------------------


def test_cloud_comments_and_changes_by_the_bridges_account_are_the_bridges(cloud_issue):
    ticket = ticket_from_issue(cloud_issue, POLICY, CLOUD, bot_account=AGENT)
    assert {c.author for c in ticket.comments if c.role == "agent"} == {BOT_AUTHOR}
    assert any(c.author == BOT_AUTHOR for c in ticket.changes)
    assert AGENT not in {c.author for c in ticket.changes}
    assert "557058:automation" in {c.author for c in ticket.changes}  # other accounts stay as they are
    assert any(c.author == CUSTOMER for c in ticket.comments)  # the customer's stay the customer's


def test_data_center_comments_and_changes_by_the_bridges_user_name_are_the_bridges(dc_issue):
    ticket = ticket_from_issue(dc_issue, POLICY, DATA_CENTER, bot_account="alex")
    assert [(c.author, c.role) for c in ticket.comments] == [("dana", "customer"), (BOT_AUTHOR, "agent")]
    assert Change(at("2026-11-20T09:00:00"), "status", "Open", "In Progress", BOT_AUTHOR) in ticket.changes
    assert ticket.assignee == "alex"  # only authorship changes: the bridge's user can still be assigned


def test_without_a_bot_account_every_author_is_kept_as_jira_names_it(dc_issue):
    ticket = ticket_from_issue(dc_issue, POLICY, DATA_CENTER)
    assert BOT_AUTHOR not in {c.author for c in ticket.comments} | {c.author for c in ticket.changes}
