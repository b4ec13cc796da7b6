"""The condition language: each kind parses from YAML data, matches tickets, describes itself, refuses nonsense."""

from datetime import UTC, datetime

import pytest

from jsm_bridge.policy.conditions import (
    CONDITIONS,
    Condition,
    ConditionError,
    is_empty,
    parse_condition,
)
from jsm_bridge.policy.yamlnodes import load_yaml
from jsm_bridge.ticket import Comment, Ticket

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def ticket(**overrides) -> Ticket:
    values = {
        "key": "CB-1",
        "created": NOW,
        "status": "Open",
        "priority": "P2",
        "tier": "Support Team",
        "labels": frozenset({"vip"}),
        "request_type": "Report an incident",
        "fields": {
            "summary": "Payments page down",
            "description": "Customers cannot pay since 09:00",
            "Affected service": "Payments",
            "Users affected": "All users",
            "Organisation": "",
        },
    }
    values.update(overrides)
    return Ticket(**values)


def parse(text: str) -> Condition:
    return parse_condition(load_yaml(text).data)


# kind -> (condition, matches the default ticket?, description)
MATCH_CASES = {
    "field": [
        ("{field: Affected service, equals: Payments}", True, "Affected service equals 'Payments'"),
        (
            "{field: Affected service, in: [Email, Payments]}",
            True,
            "Affected service is one of Email, Payments",
        ),
        ("{field: summary, contains: PAGE}", True, "summary contains 'PAGE'"),
        ("{field: description, matches: 'since \\d\\d:'}", True, "description matches 'since \\\\d\\\\d:'"),
        ("{field: Organisation, empty: true}", True, "Organisation is empty"),
        ("{field: Organisation, empty: false}", False, "Organisation is filled in"),
        ("{field: description, min_length: 100}", False, "description min length 100"),
    ],
    "priority": [
        ("{priority: [P1, P2]}", True, "priority is P1 or P2"),
        ("{priority: P1}", False, "priority is P1"),
    ],
    "status": [("{status: [open]}", True, "status is open")],
    "tier": [("{tier: Development}", False, "tier is Development")],
    "request_type": [("{request_type: Report an incident}", True, "request type is Report an incident")],
    "label": [("{label: [third-party, vip]}", True, "labelled third-party or vip")],
    "text": [
        ("{text: '(?i)cannot pay'}", True, "the ticket's text matches '(?i)cannot pay'"),
        ("{text: 'cannot pay', in: [summary]}", False, "the ticket's text matches 'cannot pay'"),
    ],
    "secret": [("{secret: true}", False, "the ticket contains a secret")],
    "all": [("{all: [{priority: P2}, {label: vip}]}", True, "priority is P2 and labelled vip")],
    "any": [("{any: [{priority: P1}, {label: vip}]}", True, "priority is P1 or labelled vip")],
    "not": [("{not: {label: vip}}", False, "not (labelled vip)")],
}

FLAT = [
    (kind, text, matched, description)
    for kind, cases in MATCH_CASES.items()
    for text, matched, description in cases
]


@pytest.mark.parametrize(("kind", "text", "matched", "description"), FLAT, ids=[c[1] for c in FLAT])
def test_condition_parses_matches_and_describes_itself(kind, text, matched, description):
    condition = parse(text)
    assert (condition.name, condition.matches(ticket()), condition.describe()) == (kind, matched, description)


@pytest.mark.parametrize("cls", list(CONDITIONS.values()), ids=list(CONDITIONS))
def test_every_registered_condition_has_a_docstring_an_example_that_parses_and_a_test(cls):
    assert cls.__doc__ and cls.__doc__.strip()
    assert type(parse(cls.example)) is cls
    assert cls.name in MATCH_CASES


def test_customer_comments_count_as_ticket_text_but_agent_comments_do_not():
    comments = (
        Comment(at=NOW, author="agent", role="agent", public=True, body="our password: hunter2hunter2"),
        Comment(at=NOW, author="ann", role="customer", public=True, body="the login says malware found"),
    )
    assert parse("{text: malware}").matches(ticket(comments=comments))
    assert not parse("{secret: true}").matches(ticket(comments=comments))


def test_secret_condition_matches_a_pasted_private_key():
    fields = {"description": "here: -----BEGIN RSA PRIVATE KEY-----\nMIIE..."}
    assert parse("{secret: true}").matches(ticket(fields=fields))


def test_priority_condition_never_matches_a_ticket_without_priority():
    assert not parse("{priority: [P1, P2]}").matches(ticket(priority=None))


def test_field_equals_matches_any_value_of_a_list_field():
    assert parse("{field: Components, equals: API}").matches(ticket(fields={"Components": ["Web", "API"]}))


def test_field_names_are_case_insensitive():
    assert parse("{field: affected SERVICE, equals: Payments}").matches(ticket())


@pytest.mark.parametrize("value", [None, "  ", [], {}])
def test_jira_empty_values_are_empty(value):
    assert is_empty(value)


def test_references_name_priorities_and_tiers_with_their_path_inside_the_condition():
    condition = parse("{all: [{priority: [P1, P2]}, {not: {tier: Development}}, {status: Open}]}")
    assert condition.references() == [
        ("priority", "P1", ("all", 0, "priority", 0)),
        ("priority", "P2", ("all", 0, "priority", 1)),
        ("tier", "Development", ("all", 1, "not", "tier", 0)),
    ]


def test_fields_lists_what_the_condition_reads():
    condition = parse("{any: [{field: Organisation, empty: true}, {text: x, in: [summary]}]}")
    assert condition.fields() == frozenset({"Organisation", "summary"})


ERROR_CASES = [
    ("[priority, P1]", (), "a condition is a mapping"),
    ("{}", (), "a condition is a mapping"),
    ("{fild: X, equals: Y}", ("fild",), "unknown condition 'fild' (did you mean 'field'?)"),
    ("{equals: Y}", ("equals",), "`equals` belongs to a 'field' condition: add `field`"),
    ("{priority: P1, equals: Y}", ("equals",), "unknown key 'equals' in a 'priority' condition"),
    ("{field: '', equals: Y}", ("field",), "`field` takes a field name"),
    ("{field: X, equals: Y, empty: true}", (), "exactly one test"),
    ("{field: X}", (), "exactly one test"),
    ("{field: X, matches: '(['}", ("matches",), "invalid regular expression"),
    ("{field: X, matches: 5}", ("matches",), "`matches` takes a regular expression"),
    ("{field: X, empty: yes}", ("empty",), "`empty` takes true or false"),
    ("{field: X, min_length: -1}", ("min_length",), "`min_length` takes a whole number"),
    ("{field: X, equals: [a, b]}", ("equals",), "use `in` for a list"),
    ("{priority: []}", ("priority",), "a name or a non-empty list of names"),
    ("{priority: true}", ("priority",), "a name or a non-empty list of names"),
    ("{label: {a: b}}", ("label",), "a name or a non-empty list of names"),
    ("{text: '(?P<'}", ("text",), "invalid regular expression"),
    ("{text: x, in: [summary, title]}", ("in", 1), "unknown text source 'title'"),
    ("{secret: 1}", ("secret",), "`secret` takes true or false"),
    ("{all: {priority: P1}}", ("all",), "`all` takes a non-empty list of conditions"),
    (
        "{any: [{priority: P1}, {labl: x}]}",
        ("any", 1, "labl"),
        "unknown condition 'labl' (did you mean 'label'?)",
    ),
    ("{not: {not: {tierr: X}}}", ("not", "not", "tierr"), "unknown condition 'tierr'"),
]


@pytest.mark.parametrize(("text", "path", "words"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_bad_condition_is_refused_with_the_path_of_the_problem(text, path, words):
    with pytest.raises(ConditionError) as caught:
        parse(text)
    assert caught.value.path == path
    assert words in caught.value.message
