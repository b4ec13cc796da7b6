"""Loading policies: every kind of problem is reported at its file, line, column and key path."""

from pathlib import Path

import pytest

from jsm_bridge.policy import PolicyError, load_policy
from jsm_bridge.policy.loader import Problem, collect_policies, load_policies, policy_files

POLICIES = Path(__file__).parent / "policies"
BROKEN = POLICIES / "broken"
VALID = POLICIES / "valid"


def problems_of(name: str) -> list[Problem]:
    with pytest.raises(PolicyError) as caught:
        load_policy(BROKEN / name)
    return caught.value.problems


def problem_at(name: str, path: str) -> Problem:
    found = [p for p in problems_of(name) if p.path == path]
    assert found, f"no problem at {path}: {problems_of(name)}"
    return found[0]


# (fixture, key path, line, column, words the message must contain)
CASES = [
    # layer 1: YAML
    ("yaml-syntax.yaml", "", 3, 1, "YAML syntax: expected ',' or '}'"),
    ("duplicate-key.yaml", "scope", 4, 1, "duplicate key 'scope' (first on line 2)"),
    ("not-a-mapping.yaml", "", 1, 1, "this one is a list"),
    ("empty.yaml", "", 1, 1, "this one is empty"),
    # layer 2: schema
    (
        "unknown-key.yaml",
        "priorities.P1.descripton",
        4,
        23,
        "unknown key 'descripton' (did you mean 'description'?)",
    ),
    ("unknown-section.yaml", "escalations", 4, 1, "unknown key 'escalations' (did you mean 'escalate'?)"),
    ("missing-key.yaml", "scope.jql", 3, 3, "missing required key 'jql'"),
    ("bad-values.yaml", "policy", 1, 9, "a policy id is lower-case letters, digits and dashes"),
    (
        "bad-values.yaml",
        "targets.resolution.P1",
        6,
        9,
        "expected a duration such as 30m, 4h, 2d@office; got 'soon'",
    ),
    ("bad-values.yaml", "targets.resolution.P2.1", 7, 14, "a limit must be longer than zero; got '0h'"),
    (
        "bad-values.yaml",
        "targets.on_priority_change",
        8,
        23,
        "expected 'recompute' or 'restart'; got 'maybe'",
    ),
    ("bad-values.yaml", "notify.0.at.1", 10, 30, "more than 0% and at most 1000%; got '2000%'"),
    ("bad-values.yaml", "escalate.0", 12, 5, "an escalate rule needs exactly one trigger"),
    ("bad-values.yaml", "credits.percent_per_hour", 13, 29, "must be more than 0; got 0"),
    ("bad-values.yaml", "acknowledge.public", 14, 23, "expected true or false; got 'perhaps'"),
    ("bad-values.yaml", "templates.odd", 16, 8, "expected text or {file: ...}; got 3"),
    (
        "bad-conditions.yaml",
        "classify.0.when.all.1.fild",
        9,
        12,
        "unknown condition 'fild' (did you mean 'field'?)",
    ),
    ("bad-conditions.yaml", "classify.1.when.matches", 12, 37, "invalid regular expression"),
    ("bad-conditions.yaml", "classify.2.when.equals", 15, 12, "`equals` belongs to a 'field' condition"),
    # layer 3: semantic checks
    ("unknown-priority.yaml", "classify.0.priority", 5, 75, "unknown priority 'P0'; priorities are: P1, P2"),
    ("unknown-priority.yaml", "targets.resolution.P3", 7, 25, "unknown priority 'P3'"),
    ("unknown-priority.yaml", "escalate.0.when.any.1.priority.1", 9, 61, "unknown priority 'P9'"),
    ("unknown-priority.yaml", "updates.every.P4", 12, 19, "unknown priority 'P4'"),
    ("unknown-priority.yaml", "flags.0.priority", 14, 50, "unknown priority 'P7'"),
    ("unknown-priority.yaml", "credits.priorities.1", 15, 66, "unknown priority 'p2' (did you mean 'P2'?)"),
    ("unknown-tier.yaml", "tiers.2.name", 7, 12, "tier 'Support Team' is already defined (tiers.0)"),
    (
        "unknown-tier.yaml",
        "escalate.0.from",
        9,
        20,
        "unknown tier 'Suport Team' (did you mean 'Support Team'?)",
    ),
    ("unknown-tier.yaml", "escalate.0.to", 9, 48, "unknown tier 'Engineering'"),
    ("unknown-tier.yaml", "flags.0.when.not.tier.0", 11, 40, "unknown tier 'Security'"),
    ("unknown-tier.yaml", "flags.0.to", 11, 57, "unknown tier 'Security'"),
    ("duplicate-ids.yaml", "escalate.1.id", 7, 10, "rule id 'up' is already used by escalate.0"),
    (
        "duplicate-ids.yaml",
        "validate.rules.0.id",
        11,
        12,
        "rule id 'required' is already used by validate.required",
    ),
    ("calendars.yaml", "calendars.mars.timezone", 5, 20, "calendar 'mars': unknown time zone 'Mars/Olympus'"),
    (
        "calendars.yaml",
        "targets.resolution.P1",
        8,
        20,
        "unknown calendar 'always'; calendars are: 24x7, mars, office",
    ),
    ("calendars.yaml", "targets.resolution.P2", 8, 36, "unknown calendar 'ofice' (did you mean 'office'?)"),
    ("calendars.yaml", "credits.hours", 9, 56, "unknown calendar 'night'"),
    (
        "templates.yaml",
        "acknowledge.template",
        4,
        25,
        "unknown template 'acknowlege' (did you mean 'acknowledge'?)",
    ),
    (
        "templates.yaml",
        "templates.broken",
        7,
        11,
        "template 'broken': line 1 of the template: Expected an expression",
    ),
    ("templates.yaml", "templates.typo", 8, 9, "unknown variable 'tikcet' (did you mean 'ticket'?)"),
    ("templates.yaml", "templates.unsafe", 9, 11, "attribute '__class__' is not available to templates"),
    ("templates.yaml", "templates.survey.file", 10, 18, "template file 'survey.j2': no such file"),
    ("templates.yaml", "templates.block", 13, 5, "line 2 of the template: No filter named 'shout'"),
    (
        "template-variables.yaml",
        "acknowledge.template",
        4,
        25,
        "template 'missing-info' uses 'problems', which acknowledge comments do not provide",
    ),
    (
        "template-variables.yaml",
        "updates.template",
        5,
        32,
        "uses 'credit', which updates comments do not provide",
    ),
    ("limits.yaml", "scope.jql", 2, 14, "the JQL query is empty"),
    ("limits.yaml", "scope.sweep_every", 2, 32, "the sweep interval must be longer than zero"),
    ("limits.yaml", "validate.formats.Order reference.regex", 5, 38, "invalid regular expression"),
    ("limits.yaml", "escalate.0.of", 8, 33, "no first_response targets are set"),
    ("limits.yaml", "escalate.1.to", 9, 50, "the rule moves tickets from 'Support' to the same tier"),
    ("limits.yaml", "stale.remind_after", 10, 53, "the reminder (5d) must come before closing (3d)"),
    ("no-tiers.yaml", "escalate.0.to", 5, 35, "unknown tier 'Development'; none are defined"),
]


@pytest.mark.parametrize(("fixture", "path", "line", "col", "words"), CASES, ids=lambda v: str(v))
def test_problem_is_reported_at_its_line_and_key_path(fixture, path, line, col, words):
    problem = problem_at(fixture, path)
    assert (problem.file, problem.line, problem.col) == (str(BROKEN / fixture), line, col)
    assert words in problem.message


def test_every_broken_fixture_is_covered_by_a_case():
    assert {case[0] for case in CASES} == {p.name for p in BROKEN.glob("*.yaml")}


def test_a_template_whose_file_is_missing_is_not_also_an_unknown_template():
    assert "feedback.template" not in [p.path for p in problems_of("templates.yaml")]


def test_all_problems_of_a_file_are_reported_not_just_the_first():
    paths = [p.path for p in problems_of("unknown-priority.yaml")]
    assert len(paths) == 6


def test_problems_are_sorted_by_line():
    lines = [p.line for p in problems_of("unknown-tier.yaml")]
    assert lines == sorted(lines)


def test_policy_error_message_has_one_line_per_problem_in_the_cli_format():
    with pytest.raises(PolicyError) as caught:
        load_policy(BROKEN / "duplicate-key.yaml")
    assert (
        str(caught.value)
        == f"{BROKEN / 'duplicate-key.yaml'}:4:1: scope: duplicate key 'scope' (first on line 2)"
    )


def test_a_problem_is_a_tuple_of_file_line_col_path_message():
    problem = problem_at("unknown-key.yaml", "priorities.P1.descripton")
    file, line, col, path, message = problem
    assert (line, col, path) == (4, 23, "priorities.P1.descripton")


def test_missing_file_is_a_problem_not_an_exception_of_its_own():
    with pytest.raises(PolicyError) as caught:
        load_policy(BROKEN / "no-such-policy.yaml")
    assert caught.value.problems == [Problem(str(BROKEN / "no-such-policy.yaml"), 1, 1, "", "no such file")]


def test_full_example_loads():
    policy = load_policy(POLICIES / "full.yaml")
    assert policy.name == "full-example"
    assert policy.priorities == ["P1", "P2", "P3", "P4", "P5"]
    assert [t.name for t in policy.tiers] == ["Support Team", "Systems Engineering", "Development"]


def test_loaded_calendars_have_add_and_between():
    from datetime import UTC, datetime, timedelta

    policy = load_policy(POLICIES / "full.yaml")
    monday_evening = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    assert policy.calendars["office"].add(monday_evening, timedelta(hours=2)) == datetime(
        2026, 11, 24, 9, 0, tzinfo=UTC
    )
    assert policy.calendars["office"].between(monday_evening, datetime(2026, 11, 24, 9, 0, tzinfo=UTC)) == (
        timedelta(hours=2)
    )


def test_the_24x7_wall_clock_is_available_without_being_defined():
    policy = load_policy(VALID / "minimal.yaml")
    assert policy.calendars["24x7"].is_24x7


def test_template_file_is_read_relative_to_the_policy_file():
    policy = load_policy(VALID / "file-template.yaml")
    assert policy.render("welcome", {"ticket": {"key": "FT-1"}}) == "Welcome, your request FT-1 is with us."


def test_yaml_12_booleans_keep_on_as_a_key():
    policy = load_policy(POLICIES / "full.yaml")
    assert policy.spec.escalate[0].on == "created"


def test_load_policies_reads_a_folder_sorted():
    names = [p.name for p in load_policies([str(VALID)])]
    assert names == ["file-template", "minimal"]


def test_load_policies_splits_a_colon_separated_string():
    spec = f"{VALID / 'minimal.yaml'}:{POLICIES / 'full.yaml'}"
    assert [p.name for p in load_policies(spec)] == ["minimal", "full-example"]


def test_load_policies_refuses_two_policies_with_the_same_id(tmp_path):
    copy = tmp_path / "copy.yaml"
    copy.write_text((VALID / "minimal.yaml").read_text())
    with pytest.raises(PolicyError) as caught:
        load_policies([str(VALID / "minimal.yaml"), str(copy)])
    assert caught.value.problems == [
        Problem(str(copy), 1, 9, "policy", f"policy id 'minimal' is already used by {VALID / 'minimal.yaml'}")
    ]


def test_load_policies_reports_problems_of_every_file_together():
    _policies, problems = collect_policies([str(BROKEN / "duplicate-key.yaml"), str(BROKEN / "empty.yaml")])
    assert {Path(p.file).name for p in problems} == {"duplicate-key.yaml", "empty.yaml"}


def test_folder_without_policies_is_a_problem(tmp_path):
    with pytest.raises(PolicyError) as caught:
        load_policies(str(tmp_path))
    assert caught.value.problems[0].message == "no policy files (*.yaml, *.yml) in this folder"


def test_policy_files_lists_yml_and_yaml_but_nothing_else(tmp_path):
    for name in ("b.yml", "a.yaml", "notes.txt"):
        (tmp_path / name).write_text("x: 1\n")
    assert [p.name for p in policy_files(str(tmp_path))] == ["a.yaml", "b.yml"]


def test_from_alias_is_named_as_written_in_problems(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "policy: p\nscope: {jql: x}\npriorities: {P1: {jira: Highest}}\n"
        "tiers: [{name: A}]\nescalate:\n  - {id: e, from: 7, after: 2d, to: A}\n"
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(policy)
    assert [(p.line, p.path) for p in caught.value.problems] == [(6, "escalate.0.from")]


def test_the_complete_example_in_the_reference_is_valid(tmp_path):
    reference = (Path(__file__).parent.parent / "docs" / "policy-language.md").read_text(encoding="utf-8")
    example = reference.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.yaml").write_text(example)
    assert load_policy(tmp_path / "example.yaml").name == "capital-bytes"


def test_rule_ids_may_repeat_across_sections(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "policy: p\nscope: {jql: x}\npriorities: {P1: {jira: Highest}}\n"
        "notify: [{id: managers, at: 4h}]\nflags: [{id: managers, when: {label: vip}, label: seen}]\n"
    )
    assert [rule.id for rule in load_policy(policy).spec.notify] == ["managers"]


@pytest.mark.parametrize("fixture", sorted(p.name for p in BROKEN.glob("*.yaml")))
def test_every_problem_points_at_a_line_and_column_that_exist(fixture):
    lines = (BROKEN / fixture).read_text().splitlines() or [""]
    for problem in problems_of(fixture):
        assert 1 <= problem.line <= len(lines)
        assert 1 <= problem.col <= len(lines[problem.line - 1]) + 1
