"""Benchmark: the webhook receiver against a no-op Flask route, both under the production server setup.

Starts gunicorn twice with gunicorn.conf.py (same workers x threads): once with the real receiver
(signature checked, event committed to a SQLite WAL inbox before the 202) and once with a route that
answers 202 and does nothing. Loads each on 127.0.0.1 with wrk when it is installed (else a bounded
Python load generator on persistent connections) and prints the median requests/s of each side by side and their ratio.
Then sends a steady 1,000 requests/s to the receiver and reports the p50/p99 acknowledgement latency.

    python bench/bench_webhooks.py [--seconds 10] [--connections 32] [--rate 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"
FIXTURE = ROOT / "tests" / "fixtures" / "webhooks" / "cloud" / "jira_issue_updated.json"


def noop_app():  # type: ignore[no-untyped-def]
    """The baseline: a Flask app whose POST /webhooks/jira answers 202 without doing anything."""
    from flask import Flask, Response

    app = Flask("noop")

    @app.post("/webhooks/jira")
    def receive() -> Response:
        return Response(b'{"status": "accepted"}', status=202, mimetype="application/json")

    return app


def straightforward_app():  # type: ignore[no-untyped-def]
    """The reference point: a receiver written the straightforward way (a Flask view: HMAC, JSON parse,
    one SQLite WAL insert per request with Python's defaults, synchronous=FULL), for --baseline."""
    import hashlib
    import hmac
    import sqlite3

    from flask import Flask, Response, request

    database = os.environ["BENCH_BASELINE_DB"]
    local = threading.local()
    app = Flask("straightforward")

    def connection() -> sqlite3.Connection:
        if getattr(local, "db", None) is None:
            local.db = sqlite3.connect(database, timeout=30, isolation_level=None)
            local.db.execute("PRAGMA journal_mode=WAL")
            local.db.execute(
                "CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, delivery_id TEXT UNIQUE, payload TEXT)"
            )
        return local.db  # type: ignore[no-any-return]

    @app.post("/webhooks/jira")
    def receive() -> Response:
        body = request.get_data()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Hub-Signature", ""), expected):
            return Response(b'{"error": "signature"}', status=401, mimetype="application/json")
        json.loads(body)
        connection().execute(
            "INSERT INTO inbox (delivery_id, payload) VALUES (?, ?)",
            (request.headers.get("X-Atlassian-Webhook-Identifier"), body.decode()),
        )
        return Response(b'{"status": "accepted"}', status=202, mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b"ok")

    return app


def filesystem_of(path: Path) -> str:
    """The type of the filesystem holding `path` (ext4, tmpfs...), from /proc/mounts; '?' elsewhere."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "?"
    resolved = str(path.resolve())
    best = ("", "?")
    for fields in mounts:
        inside = resolved == fields[1] or resolved.startswith(fields[1].rstrip("/") + "/")
        if len(fields) >= 3 and inside and len(fields[1]) >= len(best[0]):
            best = (fields[1], fields[2])
    return best[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


@contextmanager
def gunicorn(app_spec: str | None, env: dict[str, str]) -> Iterator[int]:
    """gunicorn with the production configuration on a free loopback port; yields the port."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
    ]
    if app_spec:
        command.append(app_spec)
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
    try:
        _wait_ready(port)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _signature(body: bytes) -> str:
    sys.path.insert(0, str(ROOT))
    from webhooks.signature import sign

    return sign(SECRET.encode(), body)


WRK_SCRIPT = """
local body = io.open(os.getenv("BENCH_BODY")):read("*a")
local signature = os.getenv("BENCH_SIGNATURE")
local counter = 0
local threads = 0
prefix = ""  -- a global: thread:set() below writes the thread's globals
function setup(thread)
  -- unique delivery ids in every run: a repeated id would be a (cheaper) duplicate, not an insert
  threads = threads + 1
  thread:set("prefix", os.getenv("BENCH_RUN") .. "-" .. threads)
end
function request()
  counter = counter + 1
  return wrk.format("POST", "/webhooks/jira", {
    ["Content-Type"] = "application/json; charset=UTF-8",
    ["X-Hub-Signature"] = signature,
    ["X-Atlassian-Webhook-Identifier"] = prefix .. "-" .. counter,
  }, body)
end
"""


def run_wrk(
    port: int,
    connections: int,
    seconds: int,
    script: str,
    body_path: Path,
    signature: str,
    tmp: Path,
    options: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> str:
    """wrk on 127.0.0.1:`port` with the Lua `script`, one thread; its output."""
    script_path = tmp / f"bench-{uuid.uuid4().hex[:8]}.lua"
    script_path.write_text(script)
    return subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", *options, "-s", str(script_path)]
        + [f"http://127.0.0.1:{port}/"],
        env={
            **os.environ,
            "BENCH_BODY": str(body_path),
            "BENCH_SIGNATURE": signature,
            "BENCH_RUN": uuid.uuid4().hex,
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout


def wrk_throughput(
    port: int, seconds: int, connections: int, body_path: Path, signature: str, tmp: Path
) -> float:
    out = run_wrk(port, connections, seconds, WRK_SCRIPT, body_path, signature, tmp)
    non2xx = [line for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    if non2xx:
        print("   wrk:", "; ".join(s.strip() for s in non2xx))
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(f"no Requests/sec in wrk output:\n{out}")


PACED_SCRIPT = (
    WRK_SCRIPT
    + """
-- Each wait before a request is drawn uniformly from [0, 2 x period): the same mean rate, but the
-- connections never fall into step (a fixed period would send them all at once, a burst of one
-- request per connection every period: 200 at a time, which is not a steady 1,000 per second).
function init(args)
  math.randomseed(os.time() + tonumber(string.sub(prefix, -1)))
end
function delay()
  return math.random(0, 2 * tonumber(os.getenv("BENCH_DELAY_MS")) - 1)
end
"""
)


def wrk_steady(
    port: int, rate: int, seconds: int, body_path: Path, signature: str, tmp: Path
) -> dict[str, float]:
    """A paced load with wrk: `connections` connections, each waiting a random time between requests
    (uniform, mean 200 ms), so the offered load is about `rate` requests/s, spread evenly rather than in
    bursts (a little less than `rate` by the latency itself: 5 ms of latency costs 2.5 %)."""
    connections = max(rate // 5, 1)  # each connection sends every 200 ms
    delay_ms = str(int(1000 * connections / rate))
    out = run_wrk(
        port,
        connections,
        seconds,
        PACED_SCRIPT,
        body_path,
        signature,
        tmp,
        ("--latency",),
        {"BENCH_DELAY_MS": delay_ms},
    )
    result: dict[str, float] = {"non_202": 0.0}
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def ms(text: str) -> float:
        for unit in ("us", "ms", "s"):
            if text.endswith(unit):
                return float(text[: -len(unit)]) * units[unit]
        return float(text)

    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            result["p50_ms" if parts[0] == "50%" else "p99_ms"] = ms(parts[1])
        elif line.strip().startswith("Latency") and len(parts) >= 4:
            result["max_ms"] = ms(parts[3])
        elif line.startswith("Requests/sec:"):
            result["rate"] = float(parts[1])
        elif "requests in" in line:
            result["sent"] = float(parts[0])
        elif "Non-2xx" in line:
            result["non_202"] = float(parts[-1])
    return result


def python_throughput(port: int, seconds: int, connections: int, body: bytes, signature: str) -> float:
    """Closed-loop load on persistent connections (used when wrk is not installed)."""
    stop = time.monotonic() + seconds
    counts = [0] * connections

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while time.monotonic() < stop:
            n += 1
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature": signature,
                "X-Atlassian-Webhook-Identifier": f"py-{i}-{n}-{uuid.uuid4().hex[:6]}",
            }
            conn.request("POST", "/webhooks/jira", body, headers)
            conn.getresponse().read()
            counts[i] += 1
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - started)


def steady_latency(
    port: int, rate: int, seconds: int, body: bytes, signature: str, senders: int = 16
) -> dict[str, float]:
    """Open-loop load at a fixed rate: each request has a scheduled send time, and its latency is
    measured from that time (so a stalled server is not hidden by the client waiting for it)."""
    interval = senders / rate
    start = time.perf_counter() + 0.2
    total = rate * seconds
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        seen: dict[int, int] = {}
        k = 0
        while True:
            n = i + k * senders
            if n >= total:
                break
            due = start + k * interval + i * (interval / senders)
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature": signature,
                "X-Atlassian-Webhook-Identifier": f"steady-{i}-{k}-{uuid.uuid4().hex[:6]}",
            }
            conn.request("POST", "/webhooks/jira", body, headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - due)
            seen[response.status] = seen.get(response.status, 0) + 1
            k += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for status, count in seen.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=run, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(int(len(latencies) * p), len(latencies) - 1)] * 1000

    return {
        "sent": float(len(latencies)),
        "rate": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000,
        "non_202": float(sum(c for s, c in statuses.items() if s != 202)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each throughput run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternate noop/receiver runs; median of each")
    parser.add_argument("--rate", type=int, default=1000, help="requests/s of the latency run")
    parser.add_argument("--latency-seconds", type=int, default=10)
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--dir",
        help="folder for the SQLite inbox (default: the system's temporary folder); its filesystem is "
        "printed: on tmpfs a disk sync costs nothing, so measure where production keeps its database",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also run a straightforward receiver (Flask view, one insert per request) and a no-op, "
        "both on gunicorn gthread 2 workers x 4 threads, and print their ratio",
    )
    parser.add_argument(
        "--database", help="inbox database URL (default: a fresh SQLite file; PostgreSQL: an empty database)"
    )
    args = parser.parse_args()

    before = os.getloadavg()[0]
    use_wrk = args.load == "wrk" or (args.load == "auto" and shutil.which("wrk") is not None)
    body = FIXTURE.read_bytes()
    signature = _signature(body)
    with tempfile.TemporaryDirectory(prefix="jsm-bridge-bench-", dir=args.dir) as tmp_name:
        tmp = Path(tmp_name)
        body_path = tmp / "body.json"
        body_path.write_bytes(body)
        database = args.database or f"sqlite:///{tmp / 'inbox.db'}"
        inbox_dir, filesystem = tmp.parent, filesystem_of(tmp)
        sys.path.insert(0, str(ROOT))
        from jsm_bridge.store import Store

        Store(database).migrate()
        receiver_env = {
            "JSM_BRIDGE_DATABASE_URL": database,
            "JSM_BRIDGE_WEBHOOK_SECRET": SECRET,
            "JSM_BRIDGE_INBOX_WORKERS": "0",  # measure the acknowledgement path only
            "JSM_BRIDGE_LOG_LEVEL": "warning",
        }

        def load(port: int) -> float:
            if use_wrk:
                return wrk_throughput(port, args.seconds, args.connections, body_path, signature, tmp)
            return python_throughput(port, args.seconds, args.connections, body, signature)

        results: dict[str, list[float]] = {"noop": [], "receiver": [], "noop 2x4": [], "straightforward": []}
        threads_2x4 = {
            "JSM_BRIDGE_HTTP_WORKER_CLASS": "gthread",
            "JSM_BRIDGE_HTTP_WORKERS": "2",
            "JSM_BRIDGE_HTTP_THREADS": "4",
            "JSM_BRIDGE_HTTP_REUSE_PORT": "0",  # gunicorn's default: one listening socket for both
            "JSM_BRIDGE_LOG_LEVEL": "warning",
        }
        for round_ in range(args.rounds):
            with gunicorn("bench.bench_webhooks:noop_app()", {"JSM_BRIDGE_LOG_LEVEL": "warning"}) as port:
                results["noop"].append(load(port))
            with gunicorn(None, receiver_env) as port:
                results["receiver"].append(load(port))
            if args.baseline:
                with gunicorn("bench.bench_webhooks:noop_app()", threads_2x4) as port:
                    results["noop 2x4"].append(load(port))
                baseline_env = {**threads_2x4, "BENCH_BASELINE_DB": str(tmp / f"baseline-{round_}.db")}
                with gunicorn("bench.bench_webhooks:straightforward_app()", baseline_env) as port:
                    results["straightforward"].append(load(port))
        stored = Store(database).inbox_depth()
        # Every request of the receiver runs was a new delivery: each must have become one row.
        expected = sum(results["receiver"]) * args.seconds

        with gunicorn(None, receiver_env) as port:
            if use_wrk:
                steady = wrk_steady(port, args.rate, args.latency_seconds, body_path, signature, tmp)
            else:
                steady = steady_latency(port, args.rate, args.latency_seconds, body, signature)

    config = _server_config()
    noop, receiver = statistics.median(results["noop"]), statistics.median(results["receiver"])
    print(
        f"server: gunicorn {config}; load: {'wrk' if use_wrk else 'python'}, {args.connections} connections, "
        f"{args.seconds}s x {args.rounds} rounds, 127.0.0.1; load average {before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; {os.cpu_count()} cores"
    )
    print(f"{'':24}{'requests/s':>12}   (median of the rounds)")
    print(f"{'no-op Flask route':24}{noop:12.0f}   runs: {', '.join(f'{r:.0f}' for r in results['noop'])}")
    print(
        f"{'receiver (durable)':24}{receiver:12.0f}   runs: {', '.join(f'{r:.0f}' for r in results['receiver'])}"
    )
    if args.database:
        print(f"inbox: {args.database.split(':', 1)[0]} (--database)")
    else:
        print(
            f"inbox: SQLite, synchronous={os.environ.get('JSM_BRIDGE_SQLITE_SYNCHRONOUS', 'FULL').upper()}, "
            f"in {inbox_dir} ({filesystem})"
        )
    print(f"ratio receiver / no-op: {receiver / noop:.2f}   (goal >= 0.80)")
    if args.baseline:
        noop_2x4, plain = (
            statistics.median(results["noop 2x4"]),
            statistics.median(results["straightforward"]),
        )
        print(
            f"baseline on gthread 2 x 4: no-op {noop_2x4:.0f} (runs: {', '.join(f'{r:.0f}' for r in results['noop 2x4'])}), "
            f"straightforward receiver {plain:.0f} (runs: {', '.join(f'{r:.0f}' for r in results['straightforward'])}), "
            f"ratio {plain / noop_2x4:.2f}"
        )
    print(f"inbox rows written: {sum(stored.values())} (receiver requests: about {expected:.0f})")
    print(
        f"steady {args.rate} req/s for {args.latency_seconds}s: sent {steady['sent']:.0f} at {steady['rate']:.0f}/s, "
        f"p50 {steady['p50_ms']:.1f} ms, p99 {steady['p99_ms']:.1f} ms (goal < 20), max {steady['max_ms']:.1f} ms, "
        f"non-202: {steady['non_202']:.0f}"
    )
    print(json.dumps({"noop_rps": noop, "receiver_rps": receiver, "ratio": receiver / noop, **steady}))
    return 0


def _server_config() -> str:
    env = dict(os.environ)
    namespace: dict[str, object] = {"__file__": str(ROOT / "gunicorn.conf.py")}
    exec((ROOT / "gunicorn.conf.py").read_text(), namespace)  # noqa: S102 - our own configuration file
    os.environ.clear()
    os.environ.update(env)
    sockets = ", a listening socket each" if namespace.get("reuse_port") else ""
    if namespace["worker_class"] == "gevent":
        return f"{namespace['workers']} workers, gevent, {namespace['worker_connections']} connections each{sockets}"
    return f"{namespace['workers']} workers x {namespace['threads']} threads ({namespace['worker_class']})"


if __name__ == "__main__":
    sys.exit(main())
