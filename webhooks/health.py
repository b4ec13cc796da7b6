"""`GET /healthz` (store reachable, workers alive) and `GET /metrics` (Prometheus text)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from webhooks.app import ReceiverState

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    state: ReceiverState = current_app.extensions["jsm_bridge"]
    report: dict[str, object] = {}
    healthy = True
    try:
        state.store.ping()
        report["store"] = "ok"
    except Exception as exc:  # any store failure makes the instance unhealthy; the reason is its class
        report["store"] = f"unavailable: {type(exc).__name__}"
        healthy = False
    if state.workers is not None:
        alive, expected = state.workers.alive(), state.workers.threads
        state.metrics.workers_alive.set(alive)
        report["workers"] = {"alive": alive, "expected": expected}
        healthy = healthy and alive == expected
    else:
        report["workers"] = {"alive": 0, "expected": 0}
    report["status"] = "ok" if healthy else "unhealthy"
    return Response(json.dumps(report), status=200 if healthy else 503, mimetype="application/json")


@bp.get("/metrics")
def metrics() -> Response:
    state: ReceiverState = current_app.extensions["jsm_bridge"]
    if state.workers is not None:
        state.metrics.workers_alive.set(state.workers.alive())
    return Response(state.metrics.exposition(), mimetype=CONTENT_TYPE_LATEST)
