"""Comment templates: sandboxed Jinja2, strict about undefined names, checked before they are ever rendered."""

import pytest

from jsm_bridge.policy.templates import (
    KNOWN_VARIABLES,
    TemplateError,
    TemplateSet,
    builtin_templates,
    drop_tag_lines,
    template_problems,
    template_variables,
    variables_for,
)


def render(source: str, **context) -> str:
    return TemplateSet({"t": source}, include_builtins=False).render("t", context)


def test_renders_ticket_fields():
    assert render("{{ ticket.key }} is {{ ticket.status }}", ticket={"key": "CB-1", "status": "Open"}) == (
        "CB-1 is Open"
    )


def test_undefined_variable_is_an_error_not_an_empty_string():
    with pytest.raises(TemplateError, match="'ticket' is undefined"):
        render("Hello {{ ticket.key }}")


def test_undefined_attribute_is_an_error():
    with pytest.raises(TemplateError, match="has no attribute 'nope'"):
        render("{{ ticket.nope }}", ticket={"key": "CB-1"})


@pytest.mark.parametrize(
    "source",
    ["{{ ticket.__class__ }}", "{{ ''.__class__.__mro__ }}", "{{ ticket.key.__class__.__subclasses__() }}"],
)
def test_sandbox_refuses_dunder_attributes(source):
    with pytest.raises(TemplateError, match="unsafe"):
        render(source, ticket={"key": "CB-1"})


def test_sandbox_refuses_changing_data():
    with pytest.raises(TemplateError, match="unsafe"):
        render("{{ problems.append('x') }}", problems=[])


def test_syntax_error_names_the_template_and_line():
    with pytest.raises(TemplateError, match="template 't', line 2"):
        TemplateSet({"t": "ok\n{% if %}"}, include_builtins=False)


def test_policy_template_overrides_a_builtin():
    templates = TemplateSet({"feedback": "Thanks {{ ticket.key }}"})
    assert templates.render("feedback", {"ticket": {"key": "CB-1"}}) == "Thanks CB-1"


def test_unknown_template_name_is_an_error():
    with pytest.raises(TemplateError, match="no template named 'nope'"):
        TemplateSet({}).render("nope", {})


def test_mention_filter_writes_wiki_markup():
    assert render("{{ 'acc-1' | mention }}") == "[~acc-1]"


def test_redact_filter_hides_secrets():
    assert "hunter2hunter2" not in render("{{ text | redact }}", text="password: hunter2hunter2")


def test_template_problems_finds_unknown_variables_with_a_suggestion():
    [problem] = template_problems("{{ tikcet.key }}")
    assert problem.message.startswith("unknown variable 'tikcet' (did you mean 'ticket'?)")


def test_template_problems_name_the_line_of_an_unknown_variable():
    assert [p.line for p in template_problems("Hello\n\n{{ tikcet.key }}")] == [3]


def test_template_problems_accepts_variables_set_in_the_template():
    assert (
        template_problems("{% set who = ticket.key %}{% for p in problems %}{{ p }}{{ who }}{% endfor %}")
        == []
    )


def test_template_problems_finds_unknown_filters():
    assert "No filter named 'shout'" in template_problems("{{ ticket.key | shout }}")[0].message


def test_template_problems_refuses_underscore_attributes_by_dot_or_subscript():
    problems = template_problems("{{ ticket._secret }}{{ ticket['__class__'] }}")
    assert len(problems) == 2


def test_template_problems_reports_syntax_errors_with_the_line():
    [problem] = template_problems("a\nb\n{% endif %}")
    assert str(problem) == "line 3 of the template: Encountered unknown tag 'endif'."


@pytest.mark.parametrize("name", sorted(builtin_templates()))
def test_builtin_templates_pass_the_checks(name):
    assert template_problems(builtin_templates()[name]) == []


@pytest.mark.parametrize(
    ("section", "name"),
    [
        ("acknowledge", "acknowledge"),
        ("classify", "classified"),
        ("validate", "missing-info"),
        ("validate", "missing-info-fixed"),
        ("escalate", "escalated"),
        ("notify", "notify"),
        ("updates", "update"),
        ("stale", "stale-reminder"),
        ("stale", "stale-close"),
        ("feedback", "feedback"),
        ("credits", "credit"),
        ("flags", "flagged"),
        ("flags", "secret-warning"),
    ],
)
def test_builtin_template_reads_only_what_its_section_provides(section, name):
    assert template_variables(builtin_templates()[name]) <= variables_for(section)


def test_known_variables_include_the_common_ones():
    assert {"ticket", "policy", "rule", "clocks", "reason", "now"} <= KNOWN_VARIABLES


def test_a_tag_ending_a_line_of_text_keeps_the_line_break_after_it():
    source = "{% if a %}First.{% endif %}\n{% if b %}Second.{% endif %}\nThird."
    assert render(source, a=True, b=True) == "First.\nSecond.\nThird."


def test_a_line_holding_only_tags_leaves_no_line_of_its_own():
    source = "Please reply with:\n{% for p in problems %}- {{ p }}\n{% endfor %}\nThank you."
    assert render(source, problems=["a", "b"]) == "Please reply with:\n- a\n- b\nThank you."


def test_dropping_tag_lines_keeps_error_line_numbers_and_raw_text():
    [problem] = template_problems("{% if ticket %}\nb\n{% endif %}\n{{ tikcet }}")
    assert problem.line == 4
    assert drop_tag_lines("{% raw %}\n{% endif %}\n{% endraw %}") == "{% raw %}\n{% endif %}\n{% endraw %}"


def test_template_problems_find_a_clock_key_that_does_not_exist():
    [problem] = template_problems("{{ clocks.resolution.goall }} {{ clock.goal_code }}")
    assert "a clock has no 'goall' (did you mean 'goal'?)" in problem.message
