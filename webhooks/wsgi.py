"""The production entry point: `gunicorn -c gunicorn.conf.py` calls `build()` once in each worker process.

A factory rather than a module-level app, so each worker process gets its own app, checkpointer thread,
inbox workers and database connections (nothing is shared across a fork)."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Mapping
from typing import Any

from flask import Flask

from webhooks.app import create_app
from webhooks.config import ReceiverConfig

log = logging.getLogger("jsm_bridge.webhooks")


def build(environ: Mapping[str, str] | None = None) -> Flask:
    """A receiver app configured from the JSM_BRIDGE_* environment (see README, "Configuration")."""
    env = os.environ if environ is None else environ
    _log_to_stderr(env)
    config = ReceiverConfig.from_env(env)
    config.store.migrate()  # safe when several processes start at once
    if config.worker_threads > 0:
        config.processor = processor_from_env(config.store, env)
        if config.processor is None:
            log.info("inbox_workers_disabled reason=no Jira configured (JSM_BRIDGE_JIRA_URL unset)")
    return create_app(config)


def _log_to_stderr(env: Mapping[str, str]) -> None:
    """Under gunicorn only gunicorn's own loggers have handlers: without one, the receiver's lines
    (refusals with their reasons, inbox worker failures) would be lost. Nothing changes when logging
    is already set up (`jsm-bridge serve`, a test runner, an embedding application)."""
    if logging.getLogger().handlers:
        return
    level = env.get("JSM_BRIDGE_LOG_LEVEL", "info").upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else logging.INFO,
        format="%(asctime)s [%(process)d] %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )


def processor_from_env(store: Any, env: Mapping[str, str]) -> Any | None:
    """The TicketProcessor the inbox workers call, built from the Jira and policy settings; None when
    no Jira is configured (the receiver then only stores events, and another process works the inbox)."""
    if not env.get("JSM_BRIDGE_JIRA_URL"):
        return None
    from jsm_bridge.clock import SystemClock
    from jsm_bridge.jira import JiraConfig, gateway_from_config
    from jsm_bridge.policy.loader import load_policies
    from jsm_bridge.process import TicketProcessor

    jira = JiraConfig.from_env(env)
    return TicketProcessor(
        gateway=gateway_from_config(jira),
        store=store,
        policies=load_policies(env.get("JSM_BRIDGE_POLICIES", "")),
        clock=SystemClock(),
        holder=f"{socket.gethostname()}:{os.getpid()}",
        dry_run=jira.dry_run,
    )
