"""Atlassian Document Format (API v3 descriptions and comments) to plain text, in this one place.

Conditions, templates and secret detection work on text; the gateway reads through v2 where it can."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_Render = Callable[[Mapping[str, Any], int], str]


def adf_to_text(document: Any) -> str:
    """Plain text of an ADF document (or node); a string is returned as it is, None gives ""."""
    if document is None:
        return ""
    if isinstance(document, str):
        return document
    if isinstance(document, list):
        return "".join(_node(n, 0) for n in document if isinstance(n, Mapping)).strip("\n")
    if not isinstance(document, Mapping):
        return str(document)
    return _node(document, 0).strip("\n")


def is_adf(value: Any) -> bool:
    """True for an ADF document: a mapping with type "doc" and a content list."""
    return (
        isinstance(value, Mapping) and value.get("type") == "doc" and isinstance(value.get("content"), list)
    )


def _attrs(node: Mapping[str, Any]) -> Mapping[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, Mapping) else {}


def _content(node: Mapping[str, Any]) -> list[Any]:
    content = node.get("content")
    return content if isinstance(content, list) else []


def _children(node: Mapping[str, Any], depth: int) -> str:
    content = node.get("content")
    if not isinstance(content, list):
        return ""
    return "".join(_node(child, depth) for child in content if isinstance(child, Mapping))


def _node(node: Mapping[str, Any], depth: int) -> str:
    render = _RENDERERS.get(str(node.get("type")), _unknown)
    return render(node, depth)


def _text(node: Mapping[str, Any], depth: int) -> str:
    return str(node.get("text") or "")


def _block(node: Mapping[str, Any], depth: int) -> str:
    return _children(node, depth) + "\n"


def _paragraph(node: Mapping[str, Any], depth: int) -> str:
    return _children(node, depth) + "\n"


def _hard_break(node: Mapping[str, Any], depth: int) -> str:
    return "\n"


def _mention(node: Mapping[str, Any], depth: int) -> str:
    attrs = _attrs(node)
    text = attrs.get("text") or attrs.get("displayName") or attrs.get("id") or ""
    text = str(text)
    return text if text.startswith("@") else f"@{text}"


def _emoji(node: Mapping[str, Any], depth: int) -> str:
    attrs = _attrs(node)
    return str(attrs.get("text") or attrs.get("shortName") or "")


def _inline_card(node: Mapping[str, Any], depth: int) -> str:
    attrs = _attrs(node)
    return str(attrs.get("url") or "")


def _code_block(node: Mapping[str, Any], depth: int) -> str:
    return _children(node, depth).rstrip("\n") + "\n"


def _list(marker: Callable[[int], str]) -> _Render:
    def render(node: Mapping[str, Any], depth: int) -> str:
        items = [c for c in _content(node) if isinstance(c, Mapping)]
        order = _attrs(node).get("order")
        start = order if isinstance(order, int) and not isinstance(order, bool) else 1
        lines = []
        for i, item in enumerate(items):
            body = _children(item, depth + 1).strip("\n")
            first, *rest = body.split("\n") if body else [""]
            lines.append("  " * depth + marker(start + i) + first)
            lines.extend(rest)
        return "\n".join(lines) + "\n"

    return render


def _table_row(node: Mapping[str, Any], depth: int) -> str:
    cells = [_children(c, depth).strip("\n") for c in _content(node) if isinstance(c, Mapping)]
    return " | ".join(cells) + "\n"


def _rule(node: Mapping[str, Any], depth: int) -> str:
    return "---\n"


def _unknown(node: Mapping[str, Any], depth: int) -> str:
    # Nodes added to ADF later (panels, expands, decisions, ...) still carry their text in content or text.
    if "text" in node:
        return _text(node, depth)
    return _children(node, depth)


_RENDERERS: dict[str, _Render] = {
    "doc": _children,
    "paragraph": _paragraph,
    "text": _text,
    "hardBreak": _hard_break,
    "mention": _mention,
    "emoji": _emoji,
    "inlineCard": _inline_card,
    "heading": _block,
    "blockquote": _children,
    "codeBlock": _code_block,
    "bulletList": _list(lambda n: "- "),
    "orderedList": _list(lambda n: f"{n}. "),
    "listItem": _children,
    "table": _children,
    "tableRow": _table_row,
    "rule": _rule,
}
