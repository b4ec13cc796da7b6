"""jsm-bridge: support and escalation policies as code for Jira Service Management.

The core library: policy language, calendars, clocks, the pure decision function and the plumbing around it."""

__version__ = "0.1.0"
