"""`POST /webhooks/jira`: verify, decode, dispatch, commit to the inbox, answer 202. Never calls Jira.

Every refusal is a 4xx with `{"error": ..., "path": ...}`; a store that cannot commit answers 503 so
Jira retries. Bad input and duplicates never get 408/409/425/429/5xx, which Jira Cloud would retry."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, request
from werkzeug.sansio.utils import get_content_length

from webhooks import events
from webhooks.committer import CommitTimeout
from webhooks.signature import SignatureError, verify

if TYPE_CHECKING:
    from webhooks.app import ReceiverState

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib parser is the fallback
    orjson = None  # type: ignore[assignment]

try:
    import simdjson
except ImportError:  # pragma: no cover - pysimdjson is a dependency; orjson is the fallback
    simdjson = None

_BOM = b"\xef\xbb\xbf"


def parse_json(body: bytes) -> Any:
    """Parse a webhook body as received. simdjson first: it checks the whole body, its syntax and that
    it is UTF-8, and builds Python objects only for what is read from it (the events table reads a few
    fields of a payload of many KB; building all of it was a third of the request's own work under
    load). The result is then a read-only view (events.OBJECT_TYPES), valid while it is referenced;
    each call has a parser of its own. What simdjson refuses goes to orjson, then to the
    standard library (the clearer message, and integers beyond 64 bits), which decide: so a body is
    refused only if all of them refuse it. A byte-order mark, which simdjson skips, goes straight to
    them (they refuse it). Raises UnicodeDecodeError for bytes that are not UTF-8, another ValueError
    for what is not JSON, or RecursionError for absurdly deep nesting."""
    if simdjson is not None and not body.startswith(_BOM):
        try:
            return simdjson.Parser().parse(body)
        except (ValueError, RuntimeError):  # UnicodeDecodeError is a ValueError
            pass
    if orjson is not None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body.decode("utf-8"), parse_constant=_no_constant)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


log = logging.getLogger("jsm_bridge.webhooks")

bp = Blueprint("receiver", __name__)

DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"
RETRY_HEADER = "X-Atlassian-Webhook-Retry"

_ACCEPTED = b'{"status": "accepted"}'
_DUPLICATE = b'{"status": "duplicate"}'


def read_body(environ: dict[str, Any], length: int | None, limit: int) -> bytes:
    """The raw body, read straight from the WSGI input (werkzeug's stream wrappers cost more than the
    read itself on this path): Content-Length bytes, or for a chunked body up to limit + 1 bytes."""
    stream = environ["wsgi.input"]
    if length is not None:
        return bytes(stream.read(length)) if length else b""
    if not environ.get("wsgi.input_terminated"):
        return b""  # no length and no terminated stream: WSGI gives no body
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class Answer:
    """A response decided without Flask: status, JSON body bytes. Served by the view or the fast path."""

    status: int
    body: bytes


_ANSWER_ACCEPTED = Answer(202, _ACCEPTED)
_ANSWER_DUPLICATE = Answer(202, _DUPLICATE)


def refuse(state: ReceiverState, status: int, reason: str, message: str, path: str | None = None) -> Answer:
    """A 4xx (or 503) answer with a JSON reason; counted and logged without the body or any secret."""
    state.metrics.refused.labels(reason).inc()
    log.info("webhook_refused reason=%s status=%d path=%s", reason, status, path or "-")
    body = json.dumps({"error": message, "reason": reason, "path": path})
    return Answer(status, body.encode("utf-8"))


def handle(state: ReceiverState, environ: dict[str, Any]) -> Answer:
    """The whole of `POST /webhooks/jira` on a WSGI environ, without Flask's request machinery: the
    fast path (webhooks/fastpath.py) and the Flask view both answer with it."""
    started = time.perf_counter()
    metrics = state.metrics
    metrics.received.inc()

    if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != "application/json":
        return refuse(state, 400, "content_type", "Content-Type must be application/json", path=None)
    limit = state.config.max_body_bytes
    length = get_content_length(environ.get("CONTENT_LENGTH"), environ.get("HTTP_TRANSFER_ENCODING"))
    if length is not None and length > limit:
        return refuse(state, 413, "too_large", f"body is larger than {limit} bytes")
    body = read_body(environ, length, limit)
    if len(body) > limit:
        return refuse(state, 413, "too_large", f"body is larger than {limit} bytes")

    if state.secret is not None:
        try:
            verify(state.secret, environ.get("HTTP_X_HUB_SIGNATURE"), body)
        except SignatureError as exc:
            return refuse(state, exc.status, exc.code, exc.message, path=None)

    try:
        payload: Any = parse_json(body)
    except UnicodeDecodeError as exc:
        return refuse(state, 400, "not_utf8", f"body is not UTF-8 (byte {exc.start})")
    except ValueError as exc:
        return refuse(state, 400, "invalid_json", f"body is not valid JSON: {exc}")
    except RecursionError:
        return refuse(state, 400, "invalid_json", "body is not usable JSON: nested too deeply")
    if not isinstance(payload, events.OBJECT_TYPES):
        return refuse(state, 400, "not_object", "body must be a JSON object", path="$")

    try:
        outcome = events.touched(payload)
    except events.PayloadError as exc:
        return refuse(state, 400, "invalid_payload", exc.message, path=exc.path)

    if isinstance(outcome, events.Ignored):
        metrics.ignored.inc()
        log.info("ignored: %s event=%s", outcome.reason, outcome.event[:64])
        return Answer(202, json.dumps({"status": "ignored", "reason": outcome.reason}).encode("utf-8"))

    delivery_id = environ.get("HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER") or None
    entry = state.inbox_entry(
        delivery_id=delivery_id[:200] if delivery_id else None,
        # Only a delivery without an identifier is compared by content (the store's content index
        # holds only those); one with an identifier is compared by it, and its hash would go unused.
        content_hash="" if delivery_id else hashlib.sha256(body).hexdigest(),
        event_type=outcome.event,
        issue_key=outcome.reference,
        payload=body,  # stored as text: parse_json found it UTF-8
        received_at=state.clock.now(),
        flavor=events.flavor_of(payload, delivery_id),
    )
    # Not held while the commit is awaited: a simdjson view keeps its parser's buffers (about 37 KB
    # for a 7.7 KB body), and a flood can have a thousand requests per process waiting.
    del payload
    try:
        stored = state.committer.add(entry)
    except (state.store_error, CommitTimeout) as exc:
        return refuse(
            state,
            503,
            "store_unavailable",
            f"the inbox cannot store the delivery right now ({type(exc).__name__}): retry later",
        )

    if not stored:
        metrics.duplicates.inc()
        log.info(
            "webhook_duplicate event=%s issue=%s delivery=%s", outcome.event, outcome.reference, delivery_id
        )
        return _ANSWER_DUPLICATE
    metrics.record_accepted(outcome.event)
    if state.workers is not None:
        state.workers.notify()
    metrics.ack_seconds.observe(time.perf_counter() - started)
    return _ANSWER_ACCEPTED


@bp.post("/webhooks/jira")
def receive() -> Response:
    state: ReceiverState = current_app.extensions["jsm_bridge"]
    answer = handle(state, request.environ)
    return Response(answer.body, status=answer.status, mimetype="application/json")
