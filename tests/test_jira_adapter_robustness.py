"""Whatever shape Jira's JSON takes, reading it never raises: nulls, wrong types and missing parts included."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jsm_bridge.jira.adapter import ticket_from_issue
from jsm_bridge.jira.adf import adf_to_text
from jsm_bridge.jira.config import CLOUD, DATA_CENTER
from jsm_bridge.policy import load_policy

POLICY = load_policy(Path(__file__).parent / "policies" / "full.yaml")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.sampled_from(
        ["", "High", "Support", "2026-11-23T09:00:00.000+0000", "not a date", "customfield_10050", "x y"]
    )
)
KEYS = [
    "name",
    "value",
    "key",
    "accountId",
    "displayName",
    "emailAddress",
    "requestType",
    "type",
    "content",
    "text",
    "attrs",
    "iso8601",
    "epochMillis",
    "order",
    "fieldId",
    "field",
    "from",
    "to",
    "fromString",
    "toString",
    "items",
    "created",
    "author",
    "body",
    "public",
    "jsdPublic",
    "properties",
    "visibility",
]
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "status",
    "priority",
    "reporter",
    "assignee",
    "labels",
    "created",
    "comment",
    "description",
    "customfield_10050",
    "customfield_10060",
    "customfield_10010",
    "project",
]
histories = st.lists(
    st.fixed_dictionaries(
        {"created": st.sampled_from(["2026-11-23T09:00:00.000+0000", "later", None])},
        optional={"author": json_values, "items": st.lists(json_values, max_size=3) | json_values},
    ),
    max_size=3,
)
issues = st.fixed_dictionaries(
    {"key": st.sampled_from(["CB-1", "", None])},
    optional={
        "fields": st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8) | json_values,
        "changelog": st.fixed_dictionaries({"histories": histories | json_values}) | json_values,
        "names": st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(["Tier", "Status", ""]))
        | json_values,
    },
)

quick = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@quick
@given(issues, st.sampled_from([CLOUD, DATA_CENTER]))
@example({"key": "CB-1", "fields": {"created": {"epochMillis": "x"}, "labels": 5, "comment": 7}}, CLOUD)
@example({"key": "CB-1", "fields": [], "changelog": [], "names": "x"}, DATA_CENTER)
@example(
    {"key": "CB-1", "changelog": {"histories": [{"created": "2026-11-23T09:00:00Z", "items": "status"}]}},
    CLOUD,
)
def test_any_issue_shape_reads_without_raising(issue, flavor):
    ticket_from_issue(issue, POLICY, flavor)


@quick
@given(json_values)
@example({"type": "orderedList", "attrs": {"order": "x"}, "content": [{"type": "listItem"}]})
@example({"type": "mention", "attrs": "not an object"})
def test_any_document_shape_converts_without_raising(document):
    assert isinstance(adf_to_text(document), str)
