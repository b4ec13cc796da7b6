"""`jsm-bridge serve` and its deployment files: graceful shutdown, configuration errors, Docker and compose."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import yaml

from jsm_bridge.store import Store
from tests.e2e_bridge import POLICY, Jira, eventually, sandbox_at
from tests.serve_process import ROOT, ServeProcess, server_tmp

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.mark.slow
def test_sigterm_stops_scheduler_and_workers_gracefully(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with sandbox_at(T0) as sandbox:
        serve = ServeProcess(sandbox.url, f"sqlite:///{tmp_path / 'bridge.db'}", POLICY, log)
        try:
            serve.wait_healthy()
            jira = Jira(sandbox)
            jira.register_webhook(f"{serve.url}/webhooks/jira", "bridge")
            key = jira.create("Site down")
            eventually(lambda: jira.priority(key) == "Highest", what="the running server acted")
            health = requests.get(f"{serve.url}/healthz", timeout=2).json()
            assert health["status"] == "ok"
            assert serve.terminate() == 0
        finally:
            serve.close()
    text = log.read_text()
    assert "scheduler.stopped" in text
    assert "inbox_workers_stopped still_running=0" in text
    assert list(server_tmp(log).iterdir()) == []  # the metrics folder made at start went with it


def test_serve_refuses_to_start_without_a_jira_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JSM_BRIDGE_")}
    env.update(PYTHONPATH=str(ROOT), JSM_BRIDGE_POLICIES=str(POLICY))
    result = subprocess.run(
        [sys.executable, "-m", "jsm_bridge", "serve"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "JSM_BRIDGE_JIRA_URL" in result.stderr


def test_dockerfile_runs_as_a_non_root_user_with_a_health_check() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert (
        lines[[i for i, line in enumerate(lines) if not line.startswith("#")][0]] == "FROM python:3.11-slim"
    )
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    (health,) = [i for i, line in enumerate(lines) if line.startswith("HEALTHCHECK")]
    assert "/healthz" in " ".join(lines[health : health + 2])
    assert any(line.startswith("CMD") and '"serve"' in line for line in lines)


def test_compose_runs_two_instances_on_one_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    bridges = [s for name, s in services.items() if name.startswith("bridge")]
    assert len(bridges) == 2
    urls = {b["environment"]["JSM_BRIDGE_DATABASE_URL"] for b in bridges}
    assert len(urls) == 1 and next(iter(urls)).startswith("postgresql+psycopg://")
    assert "postgres" in services
    for bridge in bridges:
        assert bridge["depends_on"]["postgres"]["condition"] == "service_healthy"
        for name in ("JSM_BRIDGE_JIRA_URL", "JSM_BRIDGE_JIRA_TOKEN", "JSM_BRIDGE_POLICIES"):
            assert name in bridge["environment"]


@pytest.mark.slow
def test_the_receivers_production_configuration_acts_with_its_inbox_workers_and_stops_gracefully(
    tmp_path: Path,
) -> None:
    # gunicorn.conf.py (gevent workers): the receiver with inbox workers in each process, as a
    # receiver-only deployment runs it.
    import signal
    import time

    from tests.serve_process import free_port, start_production_server

    log = tmp_path / "gunicorn.log"
    port = free_port()
    with sandbox_at(T0) as sandbox:
        env = {
            **os.environ,
            "JSM_BRIDGE_JIRA_URL": sandbox.url,
            "JSM_BRIDGE_JIRA_USER": "bridge",
            "JSM_BRIDGE_JIRA_TOKEN": "token",
            "JSM_BRIDGE_JIRA_FLAVOR": "cloud",
            "JSM_BRIDGE_POLICIES": str(POLICY),
            "JSM_BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
            "JSM_BRIDGE_CLOCK": "sandbox",
            "JSM_BRIDGE_HTTP_WORKERS": "2",
        }
        server = start_production_server(port, env, log)
        try:
            eventually(lambda: _healthy(port), timeout=20, what="the server is up")
            jira = Jira(sandbox)
            jira.register_webhook(f"http://127.0.0.1:{port}/webhooks/jira", "bridge")
            keys = [jira.create("Site down") for _ in range(4)]
            for key in keys:
                eventually(lambda key=key: jira.priority(key) == "Highest", what=f"{key} got its priority")
            started = time.monotonic()
            server.send_signal(signal.SIGTERM)
            assert server.wait(40) == 0
            stopped_in = time.monotonic() - started
        finally:
            if server.poll() is None:
                server.kill()
    text = log.read_text()
    assert "Using worker: gevent" in text
    assert stopped_in < 15, f"graceful stop took {stopped_in:.1f}s:\n{text}"
    assert list(server_tmp(log).iterdir()) == []  # the metrics folder made at start went with it
    depth = Store(f"sqlite:///{tmp_path / 'bridge.db'}").inbox_depth()
    assert depth.get("processing", 0) == 0 and depth.get("dead", 0) == 0
    assert depth["done"] >= 4


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False
