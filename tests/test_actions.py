"""Action values: parameters, effects on a ticket, and round-trips through their dict form."""

from datetime import UTC, datetime

import pytest

from jsm_bridge.actions import (
    ACTIONS,
    AddComment,
    Assign,
    Label,
    MoveToTier,
    SetField,
    SetPriority,
    Transition,
    action_from_dict,
    apply_all,
)
from jsm_bridge.ticket import Ticket

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
COMMON = {"ticket": "CB-1", "rule": "r1", "reason": "because", "at": NOW}


def ticket() -> Ticket:
    return Ticket(key="CB-1", created=NOW, status="Open", priority="P3", labels=frozenset({"a"}))


EXAMPLES = [
    SetPriority(key="CB-1:priority", priority="P1", **COMMON),
    Transition(key="CB-1:t", status="Resolved", resolution="Done", fields={"x": 1}, **COMMON),
    AddComment(key="CB-1:c", body="Hello", public=True, mentions=("m1",), **COMMON),
    Assign(key="CB-1:a", assignee="agent-7", **COMMON),
    SetField(key="CB-1:f", field="Tier", value="Support", **COMMON),
    Label(key="CB-1:l", add=("b",), remove=("a",), **COMMON),
    MoveToTier(
        key="CB-1:tier:Dev",
        to="Development",
        effects=(SetField(key="CB-1:tier:Dev", field="Tier", value="Development", **COMMON),),
        **COMMON,
    ),
]


def test_every_registered_kind_has_an_example():
    assert {type(a).kind for a in EXAMPLES} == set(ACTIONS)


@pytest.mark.parametrize("action", EXAMPLES, ids=lambda a: a.kind)
def test_action_survives_a_round_trip_through_its_dict_form(action):
    assert action_from_dict(action.to_dict()) == action


@pytest.mark.parametrize("cls", list(ACTIONS.values()), ids=lambda c: c.kind)
def test_every_action_class_has_a_docstring(cls):
    assert cls.__doc__ and cls.__doc__.strip()


def test_tier_move_sets_tier_and_applies_its_effects():
    after = EXAMPLES[-1].apply(ticket(), NOW)
    assert after.tier == "Development"
    assert after.fields["Tier"] == "Development"
    assert [c.field for c in after.changes] == ["tier", "Tier"]


def test_label_action_adds_and_removes():
    assert Label(key="k", add=("b",), remove=("a",), **COMMON).apply(ticket(), NOW).labels == {"b"}


def test_comment_is_recorded_as_an_agent_comment():
    after = EXAMPLES[2].apply(ticket(), NOW)
    assert after.comments[-1].role == "agent" and after.comments[-1].public


def test_apply_all_records_keys_as_done():
    after = apply_all(ticket(), EXAMPLES[:2], NOW)
    assert after.done == {"CB-1:priority", "CB-1:t"}
    assert after.priority == "P1" and after.status == "Resolved"


def test_unknown_kind_is_refused_with_the_known_ones():
    data = EXAMPLES[0].to_dict() | {"action": "explode"}
    with pytest.raises(ValueError, match="known: assign"):
        action_from_dict(data)
