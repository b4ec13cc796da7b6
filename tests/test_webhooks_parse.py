"""The receiver's JSON parsing: simdjson's read-only view on the hot path must read exactly as the
dicts of the fallback parsers (orjson, then the standard library) would, and refuse exactly what they
refuse."""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import Any

import pytest

from jsm_bridge.store import Store
from tests.webhook_harness import FIXTURES
from webhooks import ReceiverConfig, create_app, events, receiver, shutdown

ALL_FIXTURES = sorted(FIXTURES.glob("*/*.json"))


def _plain(value: Any) -> Any:
    """A parsed value as plain dicts and lists, whichever parser made it."""
    if isinstance(value, events.OBJECT_TYPES):
        return {key: _plain(value[key]) for key in value}
    if isinstance(value, events.ARRAY_TYPES):
        return [_plain(item) for item in value]
    return value


def _outcome(body: bytes) -> tuple[str, Any]:
    try:
        return "parsed", _plain(receiver.parse_json(body))
    except UnicodeDecodeError as exc:
        return "UnicodeDecodeError", exc.start
    except RecursionError:
        return "RecursionError", None
    except ValueError:
        return "ValueError", None


@pytest.fixture
def fallback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receiver, "simdjson", None)


def test_a_jira_payload_is_read_through_a_view_not_built_as_dicts() -> None:
    body = (FIXTURES / "cloud" / "jira_issue_updated.json").read_bytes()
    view = receiver.parse_json(body)
    assert not isinstance(view, dict)  # the fast path was taken
    assert isinstance(view, events.OBJECT_TYPES)
    assert isinstance(view["changelog"]["items"], events.ARRAY_TYPES)
    assert _plain(view) == json.loads(body)


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_events_table_reads_the_view_as_it_reads_dicts(path: Path) -> None:
    body = path.read_bytes()
    view, plain = receiver.parse_json(body), json.loads(body)
    assert not isinstance(view, dict)
    assert events.touched(view) == events.touched(plain)
    for delivery_id in (None, "d-1"):
        assert events.flavor_of(view, delivery_id) == events.flavor_of(plain, delivery_id)


def test_each_parse_has_a_parser_of_its_own() -> None:
    # Views stay readable while others are made: concurrent requests (greenlets) each hold one.
    first = receiver.parse_json(b'{"webhookEvent": "a", "n": [1, 2]}')
    second = receiver.parse_json(b'{"webhookEvent": "b"}')
    assert (first["webhookEvent"], list(first["n"]), second["webhookEvent"]) == ("a", [1, 2], "b")


EDGE_BODIES = {
    "a byte-order mark (simdjson would skip it)": b'\xef\xbb\xbf{"webhookEvent": "x"}',
    "an integer beyond 64 bits": b'{"webhookEvent": "x", "n": 123456789012345678901234567890}',
    "a negative integer beyond 64 bits": b'{"n": -9223372036854775809}',
    "a lone surrogate escape": b'{"a": "\\ud800"}',
    "Latin-1 bytes": '{"webhookEvent": "café"}'.encode("latin-1"),
    "an encoded surrogate": b'{"a": "\xed\xa0\x80"}',
    "NaN": b'{"webhookEvent": NaN}',
    "Infinity": b'{"n": Infinity}',
    "a number too large for a float": b'{"n": 1e400}',
    "a trailing comma": b'{"a": 1,}',
    "bytes after the value": b'{"a": 1} x',
    "a raw control character": b'{"a": "x\x01y"}',
    "nothing": b"",
    "deep nesting": b"[" * 20_000 + b"]" * 20_000,
    "an array": b"[1, 2]",
    "a string": b'"jira:issue_created"',
    "null": b"null",
    "unicode text and escapes": '{"a": "Grüße 🚨 \\u00e9 \\n"}'.encode(),
}


@pytest.mark.parametrize("body", EDGE_BODIES.values(), ids=EDGE_BODIES.keys())
def test_the_fast_path_accepts_and_refuses_what_the_fallback_parsers_do(
    body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _outcome(body)
    monkeypatch.setattr(receiver, "simdjson", None)
    assert fast == _outcome(body)


def test_without_simdjson_the_fallback_parsers_give_dicts(fallback_only: None) -> None:
    assert receiver.parse_json(b'{"webhookEvent": "x"}') == {"webhookEvent": "x"}


def test_the_parsed_body_is_released_before_the_commit_is_awaited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A view holds its parser's buffers; requests waiting for their commit must not keep it.
    class Body(dict[str, Any]):
        pass

    parsed: list[weakref.ref[Body]] = []

    def parse(body: bytes) -> Body:
        value = Body(json.loads(body))
        parsed.append(weakref.ref(value))
        return value

    held_while_committing: list[bool] = []

    class Committer:
        def add(self, entry: Any) -> bool:
            held_while_committing.append(parsed[-1]() is not None)
            return True

        def close(self) -> None:
            pass

    monkeypatch.setattr(receiver, "parse_json", parse)
    store = Store(f"sqlite:///{tmp_path / 'inbox.db'}")
    store.migrate()
    app = create_app(ReceiverConfig(store=store))
    try:
        app.extensions["jsm_bridge"].committer = Committer()
        body = (FIXTURES / "cloud" / "jira_issue_updated.json").read_bytes()
        answer = app.test_client().post("/webhooks/jira", data=body, content_type="application/json")
        assert answer.status_code == 202
        assert held_while_committing == [False]
    finally:
        shutdown(app)
