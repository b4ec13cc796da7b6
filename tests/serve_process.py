"""`jsm-bridge serve` as a separate process group against a sandbox, for crash and shutdown tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def server_tmp(log: Path) -> Path:
    """The temporary folder (TMPDIR) of the server logging to `log`: what it leaves there can be checked."""
    folder = log.parent / "server-tmp"
    folder.mkdir(exist_ok=True)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """`python -m jsm_bridge serve` with one server process, following the sandbox's clock."""

    def __init__(self, jira_url: str, database_url: str, policies: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "JSM_BRIDGE_JIRA_URL": jira_url,
            "JSM_BRIDGE_JIRA_USER": "bridge",
            "JSM_BRIDGE_JIRA_TOKEN": "token",
            "JSM_BRIDGE_JIRA_FLAVOR": "cloud",
            "JSM_BRIDGE_JIRA_RATE": "200",
            "JSM_BRIDGE_POLICIES": str(policies),
            "JSM_BRIDGE_DATABASE_URL": database_url,
            "JSM_BRIDGE_CLOCK": "sandbox",
            "JSM_BRIDGE_HTTP_THREADS": "4",
            "TMPDIR": str(server_tmp(log)),
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jsm_bridge", "serve", "--port", str(self.port), "--workers", "1"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the server and its worker die together
            )

    def wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"serve not healthy within {timeout}s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL to the whole process group: no shutdown code runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 40.0) -> int:
        """SIGTERM to the server, as a container runtime sends; its exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()


def start_production_server(
    port: int, env: dict[str, str], log: Path, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    """`gunicorn -c gunicorn.conf.py` (the receiver's production configuration) on a local port, with
    the given environment (JSM_BRIDGE_HTTP_WORKER_CLASS left to the file's default) and output in `log`."""
    env = {**env, "PYTHONPATH": str(ROOT), "TMPDIR": str(server_tmp(log))}
    env.pop("JSM_BRIDGE_HTTP_WORKER_CLASS", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
