"""The webhook receiver: a thin Flask layer over jsm_bridge (verify, dedupe, store in the inbox, answer).

`create_app(config)` builds an app; `ReceiverConfig` is what it takes."""

from webhooks.app import create_app, shutdown
from webhooks.config import ReceiverConfig

__all__ = ["ReceiverConfig", "create_app", "shutdown"]
