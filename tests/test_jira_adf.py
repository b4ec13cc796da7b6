"""Atlassian Document Format to plain text."""

from __future__ import annotations

from jsm_bridge.jira.adf import adf_to_text, is_adf
from tests.jira_support import fixture


def test_a_realistic_comment_becomes_readable_text():
    assert adf_to_text(fixture("adf_comment.json")) == (
        "Hello @Dana Customer, the fix is deployed.\n"
        "Please check:\n"
        "- checkout\n"
        "- refunds\n"
        "1. clear the cache\n"
        "curl -I https://shop.example/checkout\n"
        "Ref ORD-991"
    )


def test_paragraphs_are_separated_by_newlines():
    doc = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "one"}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "two"}]},
        ],
    }
    assert adf_to_text(doc) == "one\ntwo"


def test_a_mention_without_text_uses_its_id():
    doc = {
        "type": "doc",
        "content": [{"type": "paragraph", "content": [{"type": "mention", "attrs": {"id": "abc"}}]}],
    }
    assert adf_to_text(doc) == "@abc"


def test_unknown_nodes_give_their_text_content():
    doc = {
        "type": "doc",
        "content": [
            {
                "type": "decisionList",
                "content": [{"type": "decisionItem", "content": [{"type": "text", "text": "ship it"}]}],
            }
        ],
    }
    assert adf_to_text(doc) == "ship it"


def test_nested_lists_are_indented():
    inner = {
        "type": "bulletList",
        "content": [
            {
                "type": "listItem",
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": "b"}]}],
            }
        ],
    }
    outer = {
        "type": "bulletList",
        "content": [
            {
                "type": "listItem",
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": "a"}]}, inner],
            }
        ],
    }
    assert adf_to_text({"type": "doc", "content": [outer]}) == "- a\n  - b"


def test_plain_strings_and_nothing_pass_through():
    assert adf_to_text("wiki *text*") == "wiki *text*"
    assert adf_to_text(None) == ""
    assert adf_to_text({"type": "doc"}) == ""
    assert not is_adf("text") and is_adf({"type": "doc", "content": []})
