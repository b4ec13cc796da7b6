"""Where the sandbox keeps its records between runs: nowhere (memory) or a SQLite file.

The state always serves from memory; a SqliteStorage writes every change through and loads it back on start."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

from jsm_bridge.sandbox.model import ChangeItem, Comment, History, Issue, Webhook


class Storage(Protocol):
    def load(self) -> tuple[list[Issue], list[Webhook], dict[str, Any]]: ...
    def save_issues(self, issues: list[Issue]) -> None: ...
    def delete_issue(self, key: str) -> None: ...
    def save_webhook(self, webhook: Webhook) -> None: ...
    def delete_webhook(self, webhook_id: int) -> None: ...
    def save_meta(self, meta: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class MemoryStorage:
    """Keeps nothing: the state itself is the only copy."""

    def load(self) -> tuple[list[Issue], list[Webhook], dict[str, Any]]:
        return [], [], {}

    def save_issues(self, issues: list[Issue]) -> None:
        pass

    def delete_issue(self, key: str) -> None:
        pass

    def save_webhook(self, webhook: Webhook) -> None:
        pass

    def delete_webhook(self, webhook_id: int) -> None:
        pass

    def save_meta(self, meta: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$dt"}:
            return datetime.fromisoformat(value["$dt"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def issue_to_json(issue: Issue) -> str:
    return json.dumps(_encode(asdict(issue)))


def issue_from_json(text: str) -> Issue:
    data = _decode(json.loads(text))
    data["changelog"] = [
        History(h["id"], h["author"], h["created"], [ChangeItem(**item) for item in h["items"]])
        for h in data["changelog"]
    ]
    data["comments"] = [Comment(**c) for c in data["comments"]]
    return Issue(**data)


class SqliteStorage:
    """One row per issue (JSON), one per webhook, and a small key/value table for counters and the clock."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS issue (key TEXT PRIMARY KEY, id INTEGER UNIQUE, project TEXT, data TEXT)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS issue_project ON issue (project)")
            self._db.execute("CREATE TABLE IF NOT EXISTS webhook (id INTEGER PRIMARY KEY, data TEXT)")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")

    def load(self) -> tuple[list[Issue], list[Webhook], dict[str, Any]]:
        with self._lock:
            issues = [
                issue_from_json(row[0]) for row in self._db.execute("SELECT data FROM issue ORDER BY id")
            ]
            webhooks = [
                Webhook(**_decode(json.loads(row[0]))) for row in self._db.execute("SELECT data FROM webhook")
            ]
            meta = {
                name: _decode(json.loads(value))
                for name, value in self._db.execute("SELECT name, value FROM meta")
            }
        return issues, webhooks, meta

    def save_issues(self, issues: list[Issue]) -> None:
        rows = [(i.key, i.id, i.project, issue_to_json(i)) for i in issues]
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO issue (key, id, project, data) VALUES (?, ?, ?, ?)", rows
            )

    def delete_issue(self, key: str) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM issue WHERE key = ?", (key,))

    def save_webhook(self, webhook: Webhook) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO webhook (id, data) VALUES (?, ?)",
                (webhook.id, json.dumps(_encode(asdict(webhook)))),
            )

    def delete_webhook(self, webhook_id: int) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM webhook WHERE id = ?", (webhook_id,))

    def save_meta(self, meta: dict[str, Any]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                [(name, json.dumps(_encode(value))) for name, value in meta.items()],
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
