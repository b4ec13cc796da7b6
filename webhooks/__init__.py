"""The webhook receiver: a thin Flask layer over jsm_bridge (verify, dedupe, store in the inbox, answer).

`create_app(config)` builds an app; `ReceiverConfig` is what it takes. They load on first use, so that
a server's master can import webhooks.metrics_sharing before anything imports prometheus_client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webhooks.app import create_app, shutdown
    from webhooks.config import ReceiverConfig

__all__ = ["ReceiverConfig", "create_app", "shutdown"]


def __getattr__(name: str) -> Any:
    if name in ("create_app", "shutdown"):
        from webhooks import app

        return getattr(app, name)
    if name == "ReceiverConfig":
        from webhooks.config import ReceiverConfig

        return ReceiverConfig
    raise AttributeError(f"module 'webhooks' has no attribute {name!r}")
