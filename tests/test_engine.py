"""decide(): purity, keys, next_due, and the semantics of each rule kind that scenarios do not pin down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jsm_bridge.actions import AddComment, MoveToTier, SetPriority, apply_all
from jsm_bridge.engine import HANDLERS, decide
from jsm_bridge.policy import Policy, load_policy
from jsm_bridge.policy.schema import PolicySpec
from jsm_bridge.policy.templates import CLOCK_VARIABLES
from jsm_bridge.ticket import Comment, Ticket

FULL = Path(__file__).parent / "policies" / "full.yaml"
MON = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def full() -> Policy:
    return load_policy(FULL)


def ticket(**kwargs: object) -> Ticket:
    fields = {"summary": "Checkout slow", "Organisation": "Acme", "Business impact": "Orders lost"}
    base: dict[str, object] = {
        "key": "CB-1",
        "created": MON,
        "status": "Open",
        "priority": "P3",
        "reporter": "alice",
        "fields": fields,
    }
    base.update(kwargs)
    return Ticket(**base)  # type: ignore[arg-type]


def settle(t: Ticket, policy: Policy, now: datetime) -> Ticket:
    """The ticket after everything due at `now` has been carried out."""
    for _ in range(10):
        decision = decide(t, policy, now)
        if not decision.actions:
            return t
        t = apply_all(t, decision.actions, now)
    raise AssertionError("decisions did not settle")


def test_every_rule_kind_of_the_policy_language_has_a_handler():
    sections = {
        "flags",
        "classify",
        "validate",
        "acknowledge",
        "escalate",
        "notify",
        "updates",
        "stale",
        "feedback",
        "credits",
    }
    assert set(HANDLERS) == sections
    assert sections <= set(PolicySpec.model_fields) | {"validate"}


def test_decide_refuses_a_naive_now(full):
    with pytest.raises(ValueError, match="time-zone-aware"):
        decide(ticket(), full, datetime(2026, 11, 23, 9, 0))


def test_the_same_inputs_give_the_same_decision(full):
    first, second = decide(ticket(), full, MON), decide(ticket(), full, MON)
    assert [a.to_dict() for a in first.actions] == [a.to_dict() for a in second.actions]
    assert first.next_due == second.next_due


def test_actions_already_done_are_not_returned_again(full):
    decision = decide(ticket(), full, MON)
    assert decision.actions
    again = decide(ticket(done=frozenset(a.key for a in decision.actions)), full, MON)
    assert not {a.key for a in again.actions} & {a.key for a in decision.actions}


def test_keys_are_deterministic_and_name_the_ticket(full):
    keys = [a.key for a in decide(ticket(), full, MON).actions]
    assert keys == ["CB-1:ack"]


def test_next_due_is_the_earliest_instant_anything_new_can_become_due(full):
    settled = settle(ticket(), full, MON)
    decision = decide(settled, full, MON)
    # First line: 1 office day (Tue 09:00) or 12 hours (21:00), whichever first; the daily update
    # counts from the acknowledgement (Tue 09:00). The earliest is 21:00 tonight.
    assert decision.next_due == MON + timedelta(hours=12)
    later = decide(settled, full, MON + timedelta(hours=12))
    assert [type(a) for a in later.actions] == [MoveToTier]


def test_a_resolved_ticket_with_nothing_pending_has_no_next_due(full):
    t = ticket(priority="P4", status="Resolved", done=frozenset({"CB-1:feedback"}))
    assert decide(t, full, MON + timedelta(hours=1)).next_due is None


def test_escalation_never_goes_to_a_lower_or_the_same_tier(full):
    t = settle(ticket(priority="P1", tier="Development"), full, MON)
    later = decide(t, full, MON + timedelta(days=3))
    assert not [a for a in later.actions if isinstance(a, MoveToTier)]


def test_a_tier_move_carries_the_tier_definitions_effects(full):
    t = ticket(priority="P2")
    move = next(a for a in decide(t, full, MON).actions if isinstance(a, MoveToTier))
    assert move.key == "CB-1:tier:Systems Engineering"
    assert [(e.kind, e.params()) for e in move.effects] == [
        ("set_field", {"field": "Tier", "value": "Systems Engineering"})
    ]


def test_the_escalation_reason_says_how_long_and_how_long_paused(full):
    t = settle(ticket(priority="P2"), full, MON)
    t = t.with_change(MON + timedelta(hours=25), "status", "Awaiting third party")
    t = t.with_change(MON + timedelta(hours=28), "status", "In Progress")
    decision = decide(t, full, datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    move = next(a for a in decision.actions if isinstance(a, MoveToTier))
    assert move.reason == (
        "Escalated to Development: 2 working days in Systems Engineering (limit 2d@office), "
        "3h paused while Awaiting third party"
    )


def test_cycle_keys_change_after_a_reopen(full):
    t = ticket(priority="P4").with_change(MON + timedelta(hours=1), "status", "Resolved")
    t = settle(t, full, MON + timedelta(hours=1))
    assert "CB-1:feedback" in t.done
    t = t.with_change(MON + timedelta(hours=2), "status", "Open")
    t = t.with_change(MON + timedelta(hours=3), "status", "Resolved")
    keys = [a.key for a in decide(t, full, MON + timedelta(hours=3)).actions]
    assert "CB-1:feedback:c2" in keys


def test_classification_on_creation_does_not_override_a_person(full):
    t = ticket(fields={"Users affected": "All users", "Organisation": "A", "Business impact": "B"})
    assert any(isinstance(a, SetPriority) for a in decide(t, full, MON).actions)
    changed = t.with_change(MON + timedelta(minutes=5), "priority", "P4", author="agent-1")
    assert not any(
        isinstance(a, SetPriority) for a in decide(changed, full, MON + timedelta(minutes=6)).actions
    )


def test_classification_on_update_only_ever_raises(full):
    t = settle(ticket(priority="P1"), full, MON)
    t = t.with_change(MON + timedelta(hours=1), "Users affected", "Some users")
    assert not any(isinstance(a, SetPriority) for a in decide(t, full, MON + timedelta(hours=1)).actions)


def test_missing_information_is_never_asked_for_twice(full):
    t = settle(ticket(fields={"Organisation": "Acme"}), full, MON)
    asked = sorted(k for k in t.done if k.startswith("CB-1:missing:"))
    assert asked == [
        "CB-1:missing:Business impact",
        "CB-1:missing:Business impact:label",
        "CB-1:missing:Business impact:transition",
    ]
    t = t.with_comment(
        Comment(at=MON + timedelta(hours=1), author="alice", role="customer", public=True, body="?")
    )
    assert not decide(t, full, MON + timedelta(hours=1)).actions


def test_a_pasted_secret_is_never_quoted(full):
    secret = "Sup3rSecretValue!"
    t = ticket(fields={"description": f"password: {secret}", "Organisation": "A", "Business impact": "B"})
    actions = decide(t, full, MON).actions
    assert any(a.rule == "secret-pasted" for a in actions)
    assert all(secret not in str(a.to_dict()) for a in actions)


def test_templates_see_every_clock_with_every_key(full, tmp_path):
    text = FULL.read_text(encoding="utf-8").replace(
        'custom: "Hello {{ ticket.key }}"',
        "acknowledge: \"{% for n, c in clocks | dictsort %}{{ n }}={{ c | dictsort | map(attribute=0) | join(',') }};{% endfor %}\"",
    )
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    ack = next(a for a in decide(ticket(), load_policy(path), MON).actions if isinstance(a, AddComment))
    keys = ",".join(sorted(CLOCK_VARIABLES))
    assert ack.body == "".join(
        f"{n}={keys};" for n in sorted(["first_response", "resolution", "tier", "update", "waiting"])
    )


def test_the_decision_reports_the_clocks_at_now(full):
    decision = decide(ticket(priority="P1"), full, MON + timedelta(hours=2))
    assert decision.clocks["resolution"].elapsed == timedelta(hours=2)
    assert decision.clocks["resolution"].breach_at == MON + timedelta(hours=24)


def test_credits_count_office_hours_in_breach_capped(full):
    t = ticket(priority="P1").with_change(datetime(2026, 11, 30, 17, 0, tzinfo=UTC), "status", "Resolved")
    actions = decide(t, full, datetime(2026, 11, 30, 17, 0, tzinfo=UTC)).actions
    credit = next(a for a in actions if a.rule == "credits")
    assert isinstance(credit, AddComment) and not credit.public
    assert "25%" in credit.body and "capped" in credit.reason


def test_a_third_party_fault_earns_no_credit(full):
    resolved = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    t = ticket(priority="P1", labels=frozenset({"third-party"})).with_change(resolved, "status", "Resolved")
    assert not [a for a in decide(t, full, resolved).actions if a.rule == "credits"]


def test_internal_updates_keep_their_rhythm(tmp_path):
    text = FULL.read_text(encoding="utf-8").replace(
        "updates: {every: {P1: 4h@always, default: 1d@office}, public: true}",
        "updates: {every: {P1: 4h@always, default: 1d@office}, public: false}",
    )
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    policy = load_policy(path)
    t = ticket(priority="P1", tier="Development", done=frozenset({"CB-1:ack"}))
    first = decide(t, policy, MON + timedelta(hours=4)).actions
    assert [a.key for a in first if a.rule == "updates"] == ["CB-1:update:2026-11-23T13:00Z"]
    t = apply_all(t, first, MON + timedelta(hours=4))
    later = decide(t, policy, MON + timedelta(hours=4))
    assert later.next_due == MON + timedelta(hours=8)


class RecordingTemplates:
    """Templates that note which variables each comment was rendered with."""

    def __init__(self, inner):
        self.inner = inner
        self.seen: dict[str, set[str]] = {}

    def render(self, name, context):
        self.seen.setdefault(context["rule"]["kind"], set()).update(context)
        return self.inner.render(name, context)


@pytest.mark.parametrize(
    "scenario", ["full/p2-lifecycle.yaml", "flags/secret-pasted.yaml", "stale/remind-then-close.yaml"]
)
def test_each_kind_of_comment_gets_exactly_the_variables_its_section_documents(scenario):
    import dataclasses

    from jsm_bridge.policy.templates import variables_for
    from jsm_bridge.simulate import load_scenario, simulate

    loaded = load_scenario(Path(__file__).parent / "scenarios" / scenario)
    recording = RecordingTemplates(loaded.policy.templates)
    policy = dataclasses.replace(loaded.policy, templates=recording)
    simulate(dataclasses.replace(loaded, policy=policy))
    assert recording.seen
    for kind, names in recording.seen.items():
        assert names == set(variables_for(kind)), kind


def test_clocks_read_from_a_decision_are_the_timelines_clocks(full):
    from jsm_bridge.sla import clocks

    t = settle(ticket(priority="P2"), full, MON).with_change(
        MON + timedelta(hours=3), "status", "Awaiting third party"
    )
    now = MON + timedelta(hours=5)
    assert dict(decide(t, full, now).clocks) == clocks(t, full, now)


def test_closing_a_stale_ticket_is_not_refused_by_a_before_rule(tmp_path):
    text = FULL.read_text(encoding="utf-8").replace(
        "  rules:\n",
        "  rules:\n    - {id: root-cause-first, before: [Resolved], required: [Root cause]}\n",
    )
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    policy = load_policy(path)
    t = settle(ticket(priority="P4"), policy, MON).with_change(
        MON + timedelta(hours=1), "status", "Waiting for customer"
    )
    closing = MON + timedelta(days=5, hours=1)
    closed = settle(t, policy, closing)
    assert closed.status == "Resolved"
    assert not [k for k in closed.done if ":before:" in k]


def policy_with(tmp_path: Path, *replacements: tuple[str, str]) -> Policy:
    """The full example policy with parts of its text replaced (each must be found)."""
    text = FULL.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


def test_classification_on_creation_does_not_lower_the_priority_a_flag_just_set(full):
    t = ticket(
        priority=None,
        fields={
            "description": "The antivirus reports malware on the file server",
            "Users affected": "Some users",
            "Organisation": "A",
            "Business impact": "B",
        },
    )
    actions = decide(t, full, MON).actions
    assert [(a.rule, a.priority) for a in actions if isinstance(a, SetPriority)] == [
        ("security-report", "P1")
    ]
    assert settle(t, full, MON).priority == "P1"


def test_classification_on_creation_does_not_lower_a_raise_on_update(tmp_path):
    policy = policy_with(
        tmp_path,
        (
            "  - id: all-users\n",
            "  - {id: down, when: {text: down, in: [comments]}, priority: P1, on: [updated]}\n  - id: all-users\n",
        ),
    )
    fields = {"Users affected": "Some users", "Organisation": "A", "Business impact": "B"}
    t = settle(ticket(priority="P2", fields=fields), policy, MON)  # already P2: nothing to set
    later = MON + timedelta(hours=1)
    t = t.with_comment(Comment(at=later, author="alice", role="customer", public=True, body="now down"))
    assert settle(t, policy, later).priority == "P1"


def test_classification_on_creation_sees_the_ticket_with_what_flags_did(tmp_path):
    policy = policy_with(
        tmp_path,
        (
            "  - id: all-users\n",
            "  - {id: secrets-are-p2, when: {label: contains-secret}, priority: P2}\n  - id: all-users\n",
        ),
    )
    fields = {"description": "password: Sup3rSecretValue!", "Organisation": "A", "Business impact": "B"}
    actions = decide(ticket(priority=None, fields=fields), policy, MON).actions
    assert [(a.rule, a.priority) for a in actions if isinstance(a, SetPriority)] == [("secrets-are-p2", "P2")]


def test_classification_on_update_takes_the_highest_priority_of_the_matching_rules(tmp_path):
    policy = policy_with(
        tmp_path,
        (
            "  - id: all-users\n",
            "  - {id: slow, when: {text: slow, in: [comments]}, priority: P2, on: [updated]}\n"
            "  - {id: down, when: {text: down, in: [comments]}, priority: P1, on: [updated]}\n"
            "  - id: all-users\n",
        ),
    )
    t = settle(ticket(priority="P3"), policy, MON).with_comment(
        Comment(
            at=MON + timedelta(hours=1), author="alice", role="customer", public=True, body="slow, now down"
        )
    )
    actions = decide(t, policy, MON + timedelta(hours=1)).actions
    assert [(a.rule, a.priority) for a in actions if isinstance(a, SetPriority)] == [("down", "P1")]


def test_a_classification_comment_speaks_of_the_priority_it_sets(tmp_path):
    policy = policy_with(
        tmp_path,
        (
            "    priority: P2\n    on: [created, updated]\n",
            "    priority: P2\n    on: [created, updated]\n    comment: {public: false, template: classified}\n",
        ),
    )
    t = settle(ticket(priority="P3"), policy, MON).with_change(
        MON + timedelta(hours=1), "Users affected", "Some users", author="alice"
    )
    comment = next(
        a for a in decide(t, policy, MON + timedelta(hours=1)).actions if isinstance(a, AddComment)
    )
    assert comment.body.startswith("Priority set to P2 (Partial service impact, many users)")


def test_a_flag_comment_speaks_of_the_ticket_as_the_flag_left_it(tmp_path):
    policy = policy_with(
        tmp_path,
        ("label: security, priority: P1}", "label: security, priority: P1, comment: {template: custom}}"),
        (
            'custom: "Hello {{ ticket.key }}"',
            "custom: \"{{ ticket.priority }} {{ ticket.labels | join(',') }}\"",
        ),
    )
    t = ticket(
        priority=None, fields={"summary": "Malware found", "Organisation": "A", "Business impact": "B"}
    )
    comment = next(
        a for a in decide(t, policy, MON).actions if a.rule == "security-report" and isinstance(a, AddComment)
    )
    assert comment.body == "P1 security"


def test_an_escalation_comment_speaks_of_the_new_tier(tmp_path):
    policy = policy_with(
        tmp_path,
        ("comment: {public: true, template: escalated}}", "comment: {public: true, template: custom}}"),
        ('custom: "Hello {{ ticket.key }}"', 'custom: "{{ ticket.tier }}"'),
    )
    t = settle(ticket(priority="P2"), policy, MON)
    later = decide(t, policy, datetime(2026, 11, 25, 9, 0, tzinfo=UTC)).actions
    comment = next(a for a in later if isinstance(a, AddComment) and a.rule == "se-to-dev")
    assert comment.body == "Development"


def test_a_resolution_a_before_rule_sent_back_keeps_the_target_and_the_credit(tmp_path):
    policy = policy_with(
        tmp_path,
        (
            "  rules:\n",
            "  rules:\n    - {id: root-cause-first, before: [Resolved], required: [Root cause]}\n",
        ),
    )
    tuesday = MON + timedelta(days=1)
    t = settle(ticket(priority="P1"), policy, MON).with_change(
        tuesday + timedelta(hours=1), "status", "Resolved"
    )
    t = settle(t, policy, tuesday + timedelta(hours=1))
    assert t.status == "Open"  # sent back: not a resolution, and so no reopen either
    t = t.with_change(tuesday + timedelta(hours=2), "Root cause", "Disk full")
    resolved = tuesday + timedelta(hours=2, minutes=5)
    t = t.with_change(resolved, "status", "Resolved")
    decision = decide(t, policy, resolved)
    assert decision.clocks["resolution"].cycle == 1 and decision.clocks["resolution"].started == MON
    credit = next(a for a in decision.actions if a.rule == "credits")
    # 24h@always breached Tuesday 09:00; 2h05m of office hours in breach: 3 started hours, 3%.
    assert credit.key == "CB-1:credits" and credit.reason.startswith("Service credit 3%")


def test_a_pasted_api_key_is_called_an_api_key(full):
    fields = {
        "description": "We call it with api_key: 4f9c2b7e81d04a6f9e3b",
        "Organisation": "A",
        "Business impact": "B",
    }
    flagged = [a for a in decide(ticket(fields=fields), full, MON).actions if a.rule == "secret-pasted"]
    assert flagged and all(a.reason.endswith("(API key)") for a in flagged)
    assert all("4f9c2b7e81d04a6f9e3b" not in str(a.to_dict()) for a in flagged)


def test_a_text_rule_reason_names_the_words_that_matched_not_the_pattern(full):
    fields = {
        "description": "The antivirus reports malware on acc01",
        "Organisation": "A",
        "Business impact": "B",
    }
    flag = next(a for a in decide(ticket(fields=fields), full, MON).actions if a.rule == "security-report")
    assert flag.reason == "Flagged by security-report: the description mentions 'malware'"


def test_a_text_rule_reason_never_quotes_a_secret(tmp_path):
    policy = policy_with(
        tmp_path,
        (
            "flags:\n",
            "flags:\n  - {id: keys, when: {text: 'api_key: \\S+', in: [description]}, label: key}\n",
        ),
    )
    fields = {
        "description": "We call it with api_key: 4f9c2b7e81d04a6f9e3b",
        "Organisation": "A",
        "Business impact": "B",
    }
    flag = next(a for a in decide(ticket(fields=fields), policy, MON).actions if a.rule == "keys")
    assert flag.reason.startswith("Flagged by keys: the description mentions [redacted API key]")
    assert "4f9c2b7e81d04a6f9e3b" not in flag.reason


def test_credits_without_priorities_listed_are_paid_at_every_priority(tmp_path):
    policy = policy_with(tmp_path, ("priorities: [P1, P2, P3], hours: office", "hours: office"))
    resolved = datetime(2026, 12, 10, 17, 0, tzinfo=UTC)  # P4's 10 office days ended Monday 7 December
    t = ticket(priority="P4").with_change(resolved, "status", "Resolved")
    assert [a for a in decide(t, policy, resolved).actions if a.rule == "credits"]


def test_the_acknowledgement_reads_as_sentences_on_separate_lines_with_goals_in_words(full):
    ack = next(a for a in decide(ticket(), full, MON).actions if isinstance(a, AddComment))
    assert ack.body.splitlines() == [
        "Thank you for contacting our support. Your request CB-1 has been received and given priority P3.",
        "We will respond within 4 working hours, by Mon 23 Nov 2026 13:00 GMT.",
        "Our target for resolving it is 5 working days.",
    ]


def test_templates_see_goals_in_words_and_as_the_policy_writes_them(full):
    from jsm_bridge.engine import clock_data

    t = ticket(priority="P1", tier="Support Team")
    data = {name: clock_data(c, full) for name, c in decide(t, full, MON).clocks.items()}
    assert (data["resolution"]["goal"], data["resolution"]["goal_code"]) == ("24 hours", "24h@always")
    assert (data["first_response"]["goal"], data["first_response"]["goal_code"]) == (
        "4 working hours",
        "4h@office",
    )
    assert data["tier"]["goal"] == "1 working day or 12 hours"
