"""Gateway configuration from the environment."""

from __future__ import annotations

import pytest

from jsm_bridge.jira.config import CLOUD, DATA_CENTER, ConfigError, JiraConfig


def test_the_contract_variables_configure_the_gateway():
    config = JiraConfig.from_env(
        {
            "JSM_BRIDGE_JIRA_URL": "https://capitalbytes.atlassian.net/",
            "JSM_BRIDGE_JIRA_USER": "bot@capitalbytes.example",
            "JSM_BRIDGE_JIRA_TOKEN": "secret-token",
            "JSM_BRIDGE_DRY_RUN": "true",
        }
    )
    assert config.url == "https://capitalbytes.atlassian.net"
    assert (config.user, config.token, config.dry_run, config.flavor) == (
        "bot@capitalbytes.example",
        "secret-token",
        True,
        None,
    )
    assert config.auth_kind == "basic"
    assert "secret-token" not in repr(config)


def test_a_token_without_a_user_is_a_personal_access_token():
    config = JiraConfig.from_env(
        {"JSM_BRIDGE_JIRA_URL": "https://jira.example", "JSM_BRIDGE_JIRA_TOKEN": "pat"}
    )
    assert config.auth_kind == "bearer" and config.dry_run is False


@pytest.mark.parametrize(
    ("text", "flavor"), [("cloud", CLOUD), ("DataCenter", DATA_CENTER), ("server", DATA_CENTER)]
)
def test_the_flavour_can_be_forced(text, flavor):
    config = JiraConfig.from_env(
        {"JSM_BRIDGE_JIRA_URL": "https://jira.example", "JSM_BRIDGE_JIRA_FLAVOR": text}
    )
    assert config.flavor == flavor


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "JSM_BRIDGE_JIRA_URL is not set"),
        ({"JSM_BRIDGE_JIRA_URL": "https://j", "JSM_BRIDGE_JIRA_FLAVOR": "onprem"}, "cloud or datacenter"),
        ({"JSM_BRIDGE_JIRA_URL": "https://j", "JSM_BRIDGE_JIRA_RATE": "fast"}, "not a number"),
        ({"JSM_BRIDGE_JIRA_URL": "https://j", "JSM_BRIDGE_JIRA_RATE": "0"}, "greater than 0"),
    ],
)
def test_bad_settings_say_what_to_fix(env, message):
    with pytest.raises(ConfigError, match=message):
        JiraConfig.from_env(env)
