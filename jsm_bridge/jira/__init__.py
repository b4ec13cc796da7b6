"""The Jira gateway: the one place jsm-bridge speaks to Jira (Cloud or Data Center), with its errors,
pacing, dry run, the adapter from issue JSON to Ticket, and the executor of decided actions."""

from jsm_bridge.jira.adapter import ticket_from_issue
from jsm_bridge.jira.client import JiraGateway
from jsm_bridge.jira.config import CLOUD, DATA_CENTER, Flavor, JiraConfig
from jsm_bridge.jira.dryrun import DryRunGateway, RecordedWrite
from jsm_bridge.jira.errors import (
    AuthenticationFailed,
    BadRequest,
    FieldNotFound,
    JiraError,
    JiraRefused,
    JiraUnavailable,
    NotFound,
    RateLimited,
    TransitionNotAvailable,
)
from jsm_bridge.jira.executor import execute
from jsm_bridge.jira.gateway import Gateway
from jsm_bridge.jira.models import ServerInfo, SlaCycle, SlaMetric
from jsm_bridge.jira.ratelimit import SiteBudget, budget_for_site


def gateway_from_config(config: JiraConfig, **kwargs: object) -> Gateway:
    """The gateway for a configuration: a DryRunGateway around it when `dry_run` is set.
    Gateways for one site share the process's SiteBudget unless one is passed."""
    kwargs.setdefault("budget", budget_for_site(config.url, config.requests_per_second, config.burst))
    gateway = JiraGateway(config, **kwargs)  # type: ignore[arg-type]
    return DryRunGateway(gateway) if config.dry_run else gateway


__all__ = [
    "CLOUD",
    "DATA_CENTER",
    "AuthenticationFailed",
    "BadRequest",
    "DryRunGateway",
    "FieldNotFound",
    "Flavor",
    "Gateway",
    "JiraConfig",
    "JiraError",
    "JiraGateway",
    "JiraRefused",
    "JiraUnavailable",
    "NotFound",
    "RateLimited",
    "RecordedWrite",
    "ServerInfo",
    "SiteBudget",
    "SlaCycle",
    "SlaMetric",
    "TransitionNotAvailable",
    "budget_for_site",
    "execute",
    "gateway_from_config",
    "ticket_from_issue",
]
