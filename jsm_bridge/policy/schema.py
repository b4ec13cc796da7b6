"""The policy language as pydantic models: every section, every key, what each accepts.

Unknown keys are refused; references between sections (priorities, tiers, calendars, templates) are
checked afterwards by the loader's semantic pass, which knows the file and line of each value."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from jsm_bridge.policy.conditions import ALWAYS, Condition, parse_condition
from jsm_bridge.policy.durations import (
    WALL_CLOCK,
    Duration,
    Limit,
    Percent,
    parse_duration,
    parse_limit,
    parse_percent,
    parse_share_or_duration,
)


def _condition(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    return parse_condition(value)


def _limit(value: Any) -> Limit:
    return parse_limit(value)


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    return parse_duration(value)


def _percent(value: Any) -> Percent:
    if isinstance(value, Percent):
        return value
    return parse_percent(value)


def _share_or_duration(value: Any) -> Percent | Duration:
    if isinstance(value, Percent | Duration):
        return value
    return parse_share_or_duration(value)


def _str_list(value: Any) -> Any:
    """Accept a single name where a list of names is expected."""
    return [value] if isinstance(value, str) else value


CondField = Annotated[Condition, BeforeValidator(_condition), PlainSerializer(lambda c: c.describe())]
LimitField = Annotated[Limit, BeforeValidator(_limit), PlainSerializer(str)]
DurationField = Annotated[Duration, BeforeValidator(_duration), PlainSerializer(str)]
PercentField = Annotated[Percent, BeforeValidator(_percent), PlainSerializer(str)]
ShareOrDuration = Annotated[Percent | Duration, BeforeValidator(_share_or_duration), PlainSerializer(str)]
Names = Annotated[list[str], BeforeValidator(_str_list)]
RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
Clock = Literal["first_response", "resolution"]
Event = Literal["created", "updated"]


def _on_created() -> list[Event]:
    return ["created"]


def _on_created_and_updated() -> list[Event]:
    return ["created", "updated"]


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, populate_by_name=True
    )


class Scope(Model):
    """Which tickets the policy governs, and how often the sweeper looks at them."""

    jql: str
    sweep_every: DurationField = Field(default_factory=lambda: parse_duration("1m"))


class PriorityDef(Model):
    """A policy priority: the Jira priority it maps to, and what it means (shown in comments and reports)."""

    jira: str
    description: str = ""


class CommentSpec(Model):
    """A comment to post: rendered from a named template, public or internal, mentioning people."""

    template: str
    public: bool = False
    mention: Names = Field(default_factory=list)


class ClassifyRule(Model):
    """First match sets the priority on creation; on `updated` it only ever raises the priority."""

    id: RuleId
    when: CondField
    priority: str
    on: Annotated[list[Event], BeforeValidator(_str_list)] = Field(default_factory=_on_created)
    comment: CommentSpec | None = None


class FieldFormat(Model):
    """What a filled-in field must look like."""

    regex: str | None = None
    allowed: list[str] | None = None
    min_length: int | None = Field(default=None, ge=0)
    message: str | None = None


class ValidationRule(Model):
    """Fields required, and formats checked, when `when` holds; with `before`, only on entering those statuses."""

    id: RuleId
    when: CondField = ALWAYS
    required: Names = Field(default_factory=list)
    formats: dict[str, FieldFormat] = Field(default_factory=dict)
    before: Names = Field(default_factory=list)


class OnViolation(Model):
    """What happens when information is missing or wrong, and when the customer supplies it."""

    comment: CommentSpec | None = Field(
        default_factory=lambda: CommentSpec(template="missing-info", public=True)
    )
    label: str | None = "missing-information"
    transition: str | None = None
    return_to: str | None = None  # status to move back to once fixed; default: the status it came from


class Validation(Model):
    """Information a ticket must carry: the `required`/`formats` shorthand, rules, and what to do when it is missing."""

    required: Names = Field(default_factory=list)  # shorthand for one rule with id `required`
    formats: dict[str, FieldFormat] = Field(default_factory=dict)
    rules: list[ValidationRule] = Field(default_factory=list)
    check_on: Annotated[list[Event], BeforeValidator(_str_list)] = Field(
        default_factory=_on_created_and_updated
    )
    on_missing: OnViolation = Field(default_factory=OnViolation)

    def all_rules(self) -> list[ValidationRule]:
        """The shorthand `required`/`formats` as a rule named `required`, then the explicit rules."""
        rules = list(self.rules)
        if self.required or self.formats:
            rules.insert(0, ValidationRule(id="required", required=self.required, formats=self.formats))
        return rules


class Acknowledge(Model):
    """A comment when a ticket is created (CTS: acknowledge receipt and say what happens next)."""

    id: RuleId = "acknowledge"
    when: CondField = ALWAYS
    public: bool = True
    template: str = "acknowledge"


class Pause(Model):
    """While any of these hold, the target clocks and time-in-tier clocks stop."""

    status: Names = Field(default_factory=list)
    when: CondField | None = None


class MetBy(Model):
    """What counts as the first response: a public comment by an agent, and/or entering a status."""

    public_comment: bool = True
    status: Names = Field(default_factory=list)


class Targets(Model):
    """Goals per priority (`default` for the rest), each a limit on a calendar."""

    first_response: dict[str, LimitField] = Field(default_factory=dict)
    resolution: dict[str, LimitField] = Field(default_factory=dict)
    pause: Pause = Field(default_factory=Pause)
    first_response_met_by: MetBy = Field(default_factory=MetBy)
    # recompute: a priority change recomputes the goal from the ticket's start (as JSM does);
    # restart: the new goal counts from the moment of the change.
    on_priority_change: Literal["recompute", "restart"] = "recompute"


class TierDef(Model):
    """What moving a ticket into this tier does in Jira; a new ticket starts in the first tier."""

    name: str
    set: dict[str, Any] = Field(default_factory=dict)
    transition: str | None = None
    assignee: str | None = None
    labels: Names = Field(default_factory=list)
    description: str = ""


class EscalateRule(Model):
    """Move to a tier: on creation, after time in a tier, when a target is breached, or at a share of it."""

    id: RuleId
    when: CondField = ALWAYS
    on: Literal["created", "breach"] | None = None
    of: Clock | None = None
    at: PercentField | None = None
    from_: Names | None = Field(default=None, alias="from")
    after: LimitField | None = None
    to: str
    comment: CommentSpec | None = None

    @model_validator(mode="after")
    def _one_trigger(self) -> EscalateRule:
        triggers = [
            self.on == "created",
            self.on == "breach",
            self.at is not None,
            self.after is not None,
        ]
        if sum(triggers) != 1:
            raise ValueError(
                "an escalate rule needs exactly one trigger: `on: created`, `on: breach` with `of`, "
                "`at: 50%` with `of`, or `from` with `after`"
            )
        if (self.on == "breach" or self.at is not None) and self.of is None:
            raise ValueError("`on: breach` and `at` need `of: first_response` or `of: resolution`")
        if self.after is not None and not self.from_:
            raise ValueError("`after` needs `from`: the tier whose time is counted")
        return self


class NotifyRule(Model):
    """Mention people at shares of a target (`50%`) or at elapsed times on its clock (`4h@office`)."""

    id: RuleId
    when: CondField = ALWAYS
    at: Annotated[list[ShareOrDuration], BeforeValidator(_str_list)]
    of: Clock = "resolution"
    mention: Names = Field(default_factory=list)
    public: bool = False
    template: str = "notify"


class Updates(Model):
    """Regular status updates: at most `every` apart, per priority (`default` for the rest)."""

    id: RuleId = "updates"
    when: CondField = ALWAYS
    every: dict[str, LimitField]
    public: bool = True
    template: str = "update"

    @model_validator(mode="before")
    @classmethod
    def _single_every(cls, data: Any) -> Any:
        if isinstance(data, dict) and "every" in data and not isinstance(data["every"], dict):
            data = {**data, "every": {"default": data["every"]}}
        return data


class Stale(Model):
    """Tickets waiting on the customer: a reminder, then closing, counted from the last customer reply."""

    id: RuleId = "stale"
    status: Names
    remind_after: DurationField | None = None
    close_after: DurationField
    transition: str
    resolution: str | None = None
    public: bool = True
    remind_template: str = "stale-reminder"
    close_template: str = "stale-close"


class Feedback(Model):
    """A feedback request once a ticket is resolved."""

    id: RuleId = "feedback"
    on: Names = Field(default_factory=lambda: ["Resolved"])
    delay: DurationField = Field(default_factory=lambda: parse_duration("0m"))
    public: bool = True
    template: str = "feedback"


class Credits(Model):
    """Service credits: a share of the fee per hour in breach of the resolution target, capped."""

    id: RuleId = "credits"
    percent_per_hour: float = Field(gt=0)
    cap_percent: float = Field(gt=0)
    priorities: Names = Field(default_factory=list)
    hours: str = WALL_CLOCK  # calendar whose hours count as breach hours; 24x7 is the wall clock
    exclude: CondField | None = None
    comment: CommentSpec = Field(default_factory=lambda: CommentSpec(template="credit", public=False))
    field: str | None = None  # optional field that receives the credit percentage


class FlagRule(Model):
    """Flags a ticket that matches (a security report, a pasted secret): label, priority, tier, comment."""

    id: RuleId
    when: CondField
    on: Annotated[list[Event], BeforeValidator(_str_list)] = Field(default_factory=_on_created_and_updated)
    label: str | None = None
    priority: str | None = None
    to: str | None = None
    comment: CommentSpec | None = None


class Workflow(Model):
    """Status names the policy relies on."""

    resolved: Names = Field(default_factory=lambda: ["Resolved", "Closed", "Done", "Cancelled", "Canceled"])
    waiting_for_customer: str = "Waiting for customer"


class TemplateFile(Model):
    """A template kept in its own file, relative to the policy file: `{file: templates/feedback.j2}`."""

    file: str


class PolicySpec(Model):
    """One policy file."""

    policy: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: str = ""
    organisation: str = ""  # the support organisation's name, for comments
    scope: Scope
    calendars: dict[str, Any] = Field(default_factory=dict)
    fields: dict[str, str] = Field(default_factory=dict)  # policy field name -> Jira field id
    priorities: dict[str, PriorityDef]
    workflow: Workflow = Field(default_factory=Workflow)
    classify: list[ClassifyRule] = Field(default_factory=list)
    validate_: Validation | None = Field(default=None, alias="validate")
    acknowledge: Acknowledge | None = None
    targets: Targets = Field(default_factory=Targets)
    tiers: list[TierDef] = Field(default_factory=list)
    escalate: list[EscalateRule] = Field(default_factory=list)
    notify: list[NotifyRule] = Field(default_factory=list)
    updates: Updates | None = None
    stale: Stale | None = None
    feedback: Feedback | None = None
    credits: Credits | None = None
    flags: list[FlagRule] = Field(default_factory=list)
    templates: dict[str, str | TemplateFile] = Field(default_factory=dict)
