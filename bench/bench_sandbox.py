"""Benchmark of the sandbox under a sweeper's load: 10,000 open tickets, paged JQL searches over HTTP.

Run with `python bench/bench_sandbox.py [COUNT]`; prints the time to create, to page through, and per page."""

from __future__ import annotations

import statistics
import sys
import time

import requests

from jsm_bridge.sandbox import SandboxServer

JQL = "project = BIG AND statusCategory != Done AND priority in (Highest, High) ORDER BY key"
FIELDS = "summary,status,priority,labels,updated,customfield_10050"


def page_through(sandbox: SandboxServer, session: requests.Session, page_size: int) -> list[float]:
    """Seconds per page for one full pass with nextPageToken."""
    timings = []
    token = None
    while True:
        body: dict[str, object] = {"jql": JQL, "fields": FIELDS, "maxResults": page_size}
        if token:
            body["nextPageToken"] = token
        started = time.perf_counter()
        page = session.post(f"{sandbox.url}/rest/api/3/search/jql", json=body).json()
        timings.append(time.perf_counter() - started)
        token = page.get("nextPageToken")
        if page["isLast"]:
            return timings


def main(count: int) -> None:
    with SandboxServer() as sandbox, requests.Session() as session:
        started = time.perf_counter()
        sandbox.state.bulk_create("BIG", count, {"priority": {"name": "High"}, "labels": ["bench"]})
        print(f"created {count} tickets in {time.perf_counter() - started:.2f}s")
        for page_size in (50, 100):
            cold = page_through(sandbox, session, page_size)
            warm = page_through(sandbox, session, page_size)  # the match list is cached now
            print(
                f"maxResults={page_size}: {len(cold)} pages in {sum(cold):.2f}s "
                f"(first page {cold[0] * 1000:.1f} ms, median {statistics.median(warm) * 1000:.1f} ms)"
            )
        started = time.perf_counter()
        session.get(
            f"{sandbox.url}/rest/api/3/search/jql", params={"jql": "project = BIG", "maxResults": 5000}
        )
        print(f"ids only, 5000 per page: {(time.perf_counter() - started) * 1000:.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
