"""The fast path's answers leave in one TCP segment: the connection is corked while gunicorn writes the
status line, the headers and the body, and uncorked when it closes the body."""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys
import time
from pathlib import Path

import pytest

from tests.serve_process import free_port, start_production_server
from tests.webhook_harness import fixture_bytes
from webhooks.fastpath import CorkedBody, corked
from webhooks.signature import sign

SECRET = "fast path secret"
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="TCP_CORK and TCP_INFO are Linux's"
)


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A connected client and server socket over loopback TCP."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return client, server


def is_corked(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))


# struct tcp_info (linux/tcp.h): tcpi_data_segs_in, the segments received that carried data (Linux 4.6+).
_DATA_SEGS_IN = 152


def data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, _DATA_SEGS_IN)[0])


@linux_only
def test_the_connection_stays_corked_until_the_body_is_closed() -> None:
    client, server = tcp_pair()
    with client, server:
        body = corked({"gunicorn.socket": server}, b'{"status": "accepted"}')
        assert isinstance(body, CorkedBody)
        assert is_corked(server)
        server.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 22\r\n\r\n")
        for chunk in body:
            server.sendall(chunk)
        assert is_corked(server)
        before = data_segments_in(client)
        body.close()  # as the server does once the response is written
        assert not is_corked(server)
        received = b""
        while not received.endswith(b'accepted"}'):
            received += client.recv(4096)
        assert received == b'HTTP/1.1 202 Accepted\r\nContent-Length: 22\r\n\r\n{"status": "accepted"}'
        assert data_segments_in(client) - before == 1


def test_without_the_servers_socket_the_body_is_returned_as_it_is() -> None:
    assert corked({}, b"{}") == [b"{}"]


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="Unix sockets")
def test_a_socket_that_is_not_tcp_is_left_alone() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        assert corked({"gunicorn.socket": left}, b"{}") == [b"{}"]


@linux_only
def test_closing_the_body_after_the_client_has_gone_raises_nothing() -> None:
    client, server = tcp_pair()
    body = corked({"gunicorn.socket": server}, b"{}")
    client.close()
    server.close()
    body.close()  # the socket is closed: the uncork fails quietly


def request(body: bytes, delivery: str) -> bytes:
    head = (
        "POST /webhooks/jira HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Hub-Signature: {sign(SECRET.encode(), body)}\r\n"
        f"X-Atlassian-Webhook-Identifier: {delivery}\r\n\r\n"
    )
    return head.encode("ascii") + body


def read_answer(sock: socket.socket) -> bytes:
    """One HTTP answer from `sock`: its status line and its body, joined by a space."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b":", 1) for line in lines)
    while len(body) < int(headers[b"content-length"]):
        body += sock.recv(65536)
    return status + b" " + body


@pytest.mark.slow
@linux_only
def test_over_the_production_server_each_answer_is_one_segment_on_a_kept_alive_connection(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "JSM_BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'inbox.db'}",
        "JSM_BRIDGE_WEBHOOK_SECRET": SECRET,
        "JSM_BRIDGE_INBOX_WORKERS": "0",
        "JSM_BRIDGE_HTTP_WORKERS": "1",
    }
    env.pop("JSM_BRIDGE_JIRA_URL", None)
    server = start_production_server(port, env, tmp_path / "server.log", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with conn:
            raw = fixture_bytes("cloud/jira_issue_created")
            answers, segments = [], []
            for delivery in ("keep-1", "keep-2", "keep-1"):
                before = data_segments_in(conn)
                conn.sendall(request(raw, delivery))
                answers.append(read_answer(conn))
                segments.append(data_segments_in(conn) - before)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)

    assert answers == [
        b'HTTP/1.1 202 Accepted {"status": "accepted"}',
        b'HTTP/1.1 202 Accepted {"status": "accepted"}',
        b'HTTP/1.1 202 Accepted {"status": "duplicate"}',
    ]
    assert segments == [1, 1, 1]
