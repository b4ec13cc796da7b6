"""Line-aware YAML: data as PyYAML would build it, plus where each key and value is written."""

import pytest

from jsm_bridge.policy.yamlnodes import Position, YamlError, load_yaml


def test_value_and_key_positions_are_one_based():
    document = load_yaml("scope:\n  jql: project = CB\n")
    assert document.positions[("scope", "jql")] == Position(line=2, col=8, key_line=2, key_col=3)


def test_list_items_are_addressed_by_index():
    document = load_yaml("escalate:\n  - id: a\n  - id: b\n")
    assert document.positions[("escalate", 1, "id")].line == 3


def test_on_yes_and_no_stay_text_under_yaml_12_booleans():
    assert load_yaml("on: created\nx: yes\ny: no\nz: true\n").data == {
        "on": "created",
        "x": "yes",
        "y": "no",
        "z": True,
    }


def test_duplicate_key_names_both_lines():
    with pytest.raises(YamlError) as caught:
        load_yaml("a: 1\nb: 2\na: 3\n")
    [problem] = caught.value.problems
    assert (problem.line, problem.col, problem.path, problem.message) == (
        3,
        1,
        ("a",),
        "duplicate key 'a' (first on line 1)",
    )


def test_duplicate_key_inside_a_list_item_is_found():
    with pytest.raises(YamlError) as caught:
        load_yaml("rules:\n  - id: a\n    id: b\n")
    assert caught.value.problems[0].path == ("rules", 0, "id")


def test_syntax_error_has_line_and_column():
    with pytest.raises(YamlError) as caught:
        load_yaml("a: [1, 2\nb: 3\n")
    problem = caught.value.problems[0]
    assert (problem.line, problem.col) == (2, 2)
    assert problem.message.startswith("YAML syntax: ")


def test_merge_keys_are_resolved_and_may_be_overridden():
    document = load_yaml("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\n")
    assert document.data["use"] == {"x": 1, "y": 3}


def test_aliases_are_shared_not_expanded_again():
    document = load_yaml("a: &x [1, 2]\nb: *x\n")
    assert document.data["b"] is document.data["a"]


def test_python_tags_on_scalars_are_refused():
    with pytest.raises(YamlError) as caught:
        load_yaml("a: !!python/name:os.system x\n")
    assert "could not determine a constructor" in caught.value.problems[0].message


def test_python_tags_on_lists_are_refused():
    with pytest.raises(YamlError) as caught:
        load_yaml("a: !!python/object/apply:os.system [echo]\n")
    assert (
        caught.value.problems[0].message
        == "unsupported tag 'tag:yaml.org,2002:python/object/apply:os.system'"
    )


def test_list_as_a_key_is_refused():
    with pytest.raises(YamlError) as caught:
        load_yaml("? [a, b]\n: 1\n")
    assert caught.value.problems[0].message == "a key must be a plain value, not a list"


def test_empty_document_is_none():
    assert load_yaml("").data is None


def test_locate_falls_back_to_the_longest_written_prefix():
    document = load_yaml("when:\n  priority: P1\n")
    path, position = document.locate(("when", "priority", 0))
    assert (path, position.line) == (("when", "priority"), 2)


def test_block_scalars_are_marked():
    document = load_yaml("t: |\n  Hello\n")
    assert document.positions[("t",)].block
