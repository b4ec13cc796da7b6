"""One structured log line: a stable event name followed by key=value fields.

Values are quoted when they contain spaces; callers never pass credentials."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# The policy rule on whose behalf the gateway is writing: set by the executor, added to `jira.write`.
current_rule: ContextVar[str | None] = ContextVar("jsm_bridge_jira_rule", default=None)


@contextmanager
def acting_for(rule: str) -> Iterator[None]:
    """Within this block, the gateway's write log lines name `rule`."""
    token = current_rule.set(rule)
    try:
        yield
    finally:
        current_rule.reset(token)


def format_event(event: str, **fields: Any) -> str:
    parts = [event]
    for name, value in fields.items():
        if value is None:
            continue
        text = str(value)
        if not text or any(ch.isspace() or ch in '"=' for ch in text):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        parts.append(f"{name}={text}")
    return " ".join(parts)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log `event key=value ...` at `level` (INFO by default)."""
    if logger.isEnabledFor(level):
        logger.log(level, format_event(event, **fields))
