"""Carries out one decided Action on Jira through a gateway: a table from action kind to a small function.

After success the action's key is recorded on the issue (`record_done`); a failure propagates to the ledger."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from jsm_bridge.actions import (
    Action,
    AddComment,
    Assign,
    Label,
    MoveToTier,
    SetField,
    SetPriority,
    Transition,
)
from jsm_bridge.jira.errors import JiraError
from jsm_bridge.jira.gateway import Gateway
from jsm_bridge.jira.logline import acting_for, log_event
from jsm_bridge.policy.model import Policy
from jsm_bridge.policy.schema import TierDef
from jsm_bridge.ticket import Ticket

log = logging.getLogger(__name__)

Handler = Callable[[Any, Gateway, Policy], None]


def execute(action: Action, gateway: Gateway, policy: Policy) -> None:
    """Perform `action` on its ticket, then record its key as done on the issue."""
    with acting_for(action.rule):
        perform(action, gateway, policy)
        try:
            gateway.record_done(action.ticket, action.key)
        except JiraError as error:
            # The action happened: failing it now would make the ledger repeat it. The ledger, which is
            # the authority, records it done; only the copy of its key on the issue is missing.
            log_event(
                log,
                "jira.record_done_failed",
                logging.WARNING,
                ticket=action.ticket,
                key=action.key,
                error=f"{type(error).__name__}: {error}",
            )
    log_event(
        log,
        "jira.action",
        ticket=action.ticket,
        rule=action.rule,
        action=action.kind,
        key=action.key,
        reason=action.reason,
    )


def perform(action: Action, gateway: Gateway, policy: Policy) -> None:
    """Perform `action` without recording it (tier effects are performed this way)."""
    handler = HANDLERS.get(action.kind)
    if handler is None:
        raise ValueError(f"no executor for action kind {action.kind!r}; known: {', '.join(sorted(HANDLERS))}")
    handler(action, gateway, policy)


def jira_field(policy: Policy, name: str) -> str:
    """The Jira field id for a policy field name (from the policy's `fields:`), else the name itself."""
    return policy.spec.fields.get(name, name)


def jira_fields(policy: Policy, values: Mapping[str, Any]) -> dict[str, Any]:
    return {jira_field(policy, name): value for name, value in values.items()}


def _set_priority(action: SetPriority, gateway: Gateway, policy: Policy) -> None:
    if action.priority in policy.spec.priorities:
        name = policy.jira_priority(action.priority)
    else:
        log_event(
            log, "jira.priority_unmapped", ticket=action.ticket, rule=action.rule, priority=action.priority
        )
        name = action.priority
    gateway.set_priority(action.ticket, name)


def _transition(action: Transition, gateway: Gateway, policy: Policy) -> None:
    gateway.transition(
        action.ticket,
        action.status,
        resolution=action.resolution,
        fields=jira_fields(policy, action.fields) or None,
    )


def _comment(action: AddComment, gateway: Gateway, policy: Policy) -> None:
    # The comment carries its action key, so a crash before the key is recorded can be settled from Jira.
    gateway.add_comment(action.ticket, action.body, action.public, action.mentions, action_key=action.key)


def _assign(action: Assign, gateway: Gateway, policy: Policy) -> None:
    gateway.assign(action.ticket, action.assignee)


def _set_field(action: SetField, gateway: Gateway, policy: Policy) -> None:
    gateway.edit_fields(action.ticket, {jira_field(policy, action.field): action.value})


def _label(action: Label, gateway: Gateway, policy: Policy) -> None:
    if action.add:
        gateway.add_labels(action.ticket, action.add)
    if action.remove:
        gateway.remove_labels(action.ticket, action.remove)
    if not action.add and not action.remove:
        log_event(
            log, "jira.not_acting", ticket=action.ticket, rule=action.rule, reason="label action is empty"
        )


def _tier(action: MoveToTier, gateway: Gateway, policy: Policy) -> None:
    effects = action.effects
    if not effects:
        tier = policy.tier(action.to)
        effects = tier_effects(action, tier) if tier is not None else ()
    if not effects:
        log_event(
            log,
            "jira.not_acting",
            ticket=action.ticket,
            rule=action.rule,
            reason="tier has no effects in Jira",
            tier=action.to,
        )
    for effect in effects:
        perform(effect, gateway, policy)


def tier_effects(action: MoveToTier, tier: TierDef) -> tuple[Action, ...]:
    """What moving into `tier` means in Jira, when the action does not carry its effects: fields, labels,
    assignee, then the transition (last, so the fields are set when the workflow looks at them)."""
    common: dict[str, Any] = {
        "key": action.key,
        "ticket": action.ticket,
        "rule": action.rule,
        "reason": action.reason,
        "at": action.at,
    }
    effects: list[Action] = [SetField(**common, field=name, value=value) for name, value in tier.set.items()]
    if tier.labels:
        effects.append(Label(**common, add=tuple(tier.labels)))
    if tier.assignee:
        effects.append(Assign(**common, assignee=tier.assignee))
    if tier.transition:
        effects.append(Transition(**common, status=tier.transition))
    return tuple(effects)


# --- is the effect already there? ----------------------------------------------------------------
# Used to settle a claim a crash left pending: when Jira already shows what the action would do, it
# happened (or someone did it by hand); either way doing it again is not wanted. Comments are not
# judged by content: they carry their action key (see AddComment handling in the gateway).

EffectCheck = Callable[[Any, Ticket, Policy], bool]


def already_in_effect(action: Action, ticket: Ticket, policy: Policy) -> bool:
    """True when the ticket, as read from Jira, already shows every effect of `action`."""
    check = EFFECT_CHECKS.get(action.kind)
    return check is not None and check(action, ticket, policy)


def _priority_shown(action: SetPriority, ticket: Ticket, policy: Policy) -> bool:
    return ticket.priority is not None and ticket.priority == action.priority


def _status_shown(action: Transition, ticket: Ticket, policy: Policy) -> bool:
    # Only when the action names the target status: a transition name does not say where it leads.
    return ticket.status.casefold() == action.status.casefold()


def _assignee_shown(action: Assign, ticket: Ticket, policy: Policy) -> bool:
    return ticket.assignee == action.assignee


def _field_shown(action: SetField, ticket: Ticket, policy: Policy) -> bool:
    for name in (action.field, jira_field(policy, action.field)):
        if name in ticket.fields:
            return bool(ticket.fields[name] == action.value)
    return False


def _labels_shown(action: Label, ticket: Ticket, policy: Policy) -> bool:
    return set(action.add) <= ticket.labels and not set(action.remove) & ticket.labels


def _tier_shown(action: MoveToTier, ticket: Ticket, policy: Policy) -> bool:
    effects = action.effects
    if not effects:
        tier = policy.tier(action.to)
        effects = tier_effects(action, tier) if tier is not None else ()
    if not effects:
        return ticket.tier == action.to
    return all(already_in_effect(effect, ticket, policy) for effect in effects)


EFFECT_CHECKS: dict[str, EffectCheck] = {
    SetPriority.kind: _priority_shown,
    Transition.kind: _status_shown,
    Assign.kind: _assignee_shown,
    SetField.kind: _field_shown,
    Label.kind: _labels_shown,
    MoveToTier.kind: _tier_shown,
}


HANDLERS: dict[str, Handler] = {
    SetPriority.kind: _set_priority,
    Transition.kind: _transition,
    AddComment.kind: _comment,
    Assign.kind: _assign,
    SetField.kind: _set_field,
    Label.kind: _label,
    MoveToTier.kind: _tier,
}
