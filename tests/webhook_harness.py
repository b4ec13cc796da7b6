"""Running a receiver app behind a real HTTP server on a loopback port, and talking to it as Jira does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

from webhooks.signature import sign

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"


def fixture_bytes(name: str) -> bytes:
    """A fixture's raw bytes, e.g. `cloud/comment_created`."""
    return (FIXTURES / f"{name}.json").read_bytes()


def fixture(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes(name))


class Jira:
    """Sends webhooks to a running receiver the way Jira does: JSON, optionally signed, with headers."""

    def __init__(self, url: str, secret: str | None = None) -> None:
        self.url = url
        self.secret = secret
        self.session = requests.Session()

    def send(
        self,
        body: bytes | Mapping[str, Any],
        *,
        delivery_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json; charset=UTF-8",
        sign_with: str | None = None,
    ) -> requests.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
        sent = {"Content-Type": content_type, "User-Agent": "Atlassian Webhook HTTP Client"}
        secret = sign_with or self.secret
        if secret is not None:
            sent["X-Hub-Signature"] = sign(secret.encode("utf-8"), raw)
        if delivery_id is not None:
            sent["X-Atlassian-Webhook-Identifier"] = delivery_id
        sent.update(headers or {})
        return self.session.post(f"{self.url}/webhooks/jira", data=raw, headers=sent, timeout=10)

    def get(self, path: str) -> requests.Response:
        return self.session.get(f"{self.url}{path}", timeout=10)


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a free port, one thread per request); yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-receiver", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
