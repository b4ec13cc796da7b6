"""`python -m jsm_bridge` runs the `jsm-bridge` command."""

import sys

from jsm_bridge.cli import main

sys.exit(main())
