#!/usr/bin/env python3
"""Register (or update) the Jira admin webhook that feeds jsm-bridge's receiver.

The same as `jsm-bridge register-webhook`: reads JSM_BRIDGE_JIRA_URL, _USER, _TOKEN, JSM_BRIDGE_POLICIES,
JSM_BRIDGE_WEBHOOK_SECRET and JSM_BRIDGE_WEBHOOK_URL (or --url). `--dry-run` prints the request only."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jsm_bridge.webhook_admin import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
