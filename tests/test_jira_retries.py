"""Failures as the gateway reports them: read retries, writes sent once, Retry-After, and the error tree."""

from __future__ import annotations

import logging

import pytest
import requests
import responses

from jsm_bridge.jira.config import CLOUD, DATA_CENTER
from jsm_bridge.jira.errors import (
    AuthenticationFailed,
    BadRequest,
    JiraError,
    JiraUnavailable,
    NotFound,
    RateLimited,
)
from tests.jira_support import TOKEN, make_gateway, url

SERVER_INFO = url(CLOUD, "rest/api/2/serverInfo")
ISSUE = url(CLOUD, "rest/api/2/issue/CB-1")
INFO = {"baseUrl": "https://capitalbytes.atlassian.net", "version": "1001.0.0", "deploymentType": "Cloud"}


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# -- reads retry, writes do not ---------------------------------------------------------------------


def test_a_read_is_retried_after_a_500_with_exponential_backoff(http):
    gateway, fake = make_gateway(CLOUD)
    http.get(SERVER_INFO, status=500, json={"errorMessages": ["Internal server error"]})
    http.get(SERVER_INFO, status=502, body="<html>Bad gateway</html>")
    http.get(SERVER_INFO, json=INFO)
    assert gateway.server_info().deployment_type == "Cloud"
    assert len(http.calls) == 3
    first, second = fake.slept
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 1.5


def test_a_read_is_retried_after_a_connection_error(http):
    gateway, _ = make_gateway(CLOUD)
    http.get(SERVER_INFO, body=requests.ConnectionError("connection reset"))
    http.get(SERVER_INFO, json=INFO)
    assert gateway.server_info().version == "1001.0.0"


def test_a_read_gives_up_after_its_attempts_with_jira_unavailable(http):
    gateway, fake = make_gateway(CLOUD, read_attempts=3)
    http.get(SERVER_INFO, status=503, body="")
    with pytest.raises(JiraUnavailable) as caught:
        gateway.server_info()
    assert caught.value.status == 503 and caught.value.retryable
    assert len(http.calls) == 3 and len(fake.slept) == 2


def test_a_timeout_is_reported_as_jira_unavailable(http):
    gateway, _ = make_gateway(CLOUD, read_attempts=1)
    http.get(SERVER_INFO, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(JiraUnavailable, match="no answer within 30s"):
        gateway.server_info()


def test_a_write_is_not_retried_after_a_500(http):
    gateway, fake = make_gateway(CLOUD)
    http.put(ISSUE, status=500, json={"errorMessages": ["oops"]})
    with pytest.raises(JiraUnavailable):
        gateway.set_priority("CB-1", "High")
    assert len(http.calls) == 1 and fake.slept == []


def test_a_write_is_not_retried_after_a_connection_error(http):
    gateway, _ = make_gateway(CLOUD)
    http.post(url(CLOUD, "rest/api/2/issue/CB-1/comment"), body=requests.ConnectionError("refused"))
    http.get(
        url(CLOUD, "rest/servicedeskapi/request/CB-1"), status=404, json={"errorMessage": "not a request"}
    )
    with pytest.raises(JiraUnavailable):
        gateway.add_comment("CB-1", "hello", public=True)
    assert len([c for c in http.calls if c.request.method == "POST"]) == 1


# -- Retry-After ------------------------------------------------------------------------------------


def test_a_429_on_a_read_waits_retry_after_then_succeeds(http):
    gateway, fake = make_gateway(CLOUD, max_retry_after=30)
    http.get(SERVER_INFO, status=429, headers={"Retry-After": "5", "RateLimit-Reason": "jira-burst-based"})
    http.get(SERVER_INFO, json=INFO)
    gateway.server_info()
    assert len(http.calls) == 2
    assert sum(fake.slept) == pytest.approx(5, abs=0.01)


def test_a_429_longer_than_the_bound_raises_rate_limited_without_waiting(http):
    gateway, fake = make_gateway(CLOUD, max_retry_after=30)
    http.get(
        SERVER_INFO,
        status=429,
        headers={"Retry-After": "1800", "RateLimit-Reason": "jira-quota-tenant-based"},
    )
    with pytest.raises(RateLimited) as caught:
        gateway.server_info()
    error = caught.value
    assert error.retry_after == 1800 and error.reason == "jira-quota-tenant-based" and error.scope == "site"
    assert len(http.calls) == 1 and fake.slept == []


def test_after_a_long_pause_further_requests_fail_fast_until_it_ends(http):
    gateway, fake = make_gateway(CLOUD, max_retry_after=30)
    http.get(SERVER_INFO, status=429, headers={"Retry-After": "600"})
    with pytest.raises(RateLimited):
        gateway.server_info()
    with pytest.raises(RateLimited) as caught:
        gateway.set_priority("CB-1", "High")
    assert caught.value.retry_after == pytest.approx(600)
    assert len(http.calls) == 1


def test_a_429_on_a_write_is_raised_and_pauses_writes_to_that_issue(http):
    gateway, fake = make_gateway(CLOUD, max_retry_after=30)
    http.put(ISSUE, status=429, headers={"Retry-After": "3", "RateLimit-Reason": "jira-per-issue-on-write"})
    with pytest.raises(RateLimited) as caught:
        gateway.set_priority("CB-1", "High")
    assert caught.value.scope == "issue" and caught.value.ticket == "CB-1"
    assert len(http.calls) == 1
    http.replace(responses.PUT, ISSUE, status=204)
    http.put(url(CLOUD, "rest/api/2/issue/CB-2"), status=204)
    gateway.set_priority("CB-2", "High")
    assert fake.slept == []
    gateway.set_priority("CB-1", "High")
    assert sum(fake.slept) == pytest.approx(3, abs=0.01)


def test_a_503_with_retry_after_is_honoured_on_reads(http):
    gateway, fake = make_gateway(CLOUD)
    http.get(SERVER_INFO, status=503, headers={"Retry-After": "7"})
    http.get(SERVER_INFO, json=INFO)
    gateway.server_info()
    assert sum(fake.slept) == pytest.approx(7, abs=0.01)


# -- the error tree ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_authentication_failure_names_user_and_site_but_never_the_token(http, caplog, status):
    caplog.set_level(logging.DEBUG)
    gateway, _ = make_gateway(CLOUD)
    http.get(SERVER_INFO, status=status, body="Unauthorized")
    with pytest.raises(AuthenticationFailed) as caught:
        gateway.server_info()
    message = str(caught.value)
    assert "bot@capitalbytes.example" in message and "https://capitalbytes.atlassian.net" in message
    assert TOKEN not in message and TOKEN not in caplog.text and TOKEN not in repr(gateway.config)
    assert len(http.calls) == 1


def test_authentication_failure_with_a_personal_access_token_says_so(http, caplog):
    caplog.set_level(logging.DEBUG)
    gateway, _ = make_gateway(DATA_CENTER)
    http.get(url(DATA_CENTER, "rest/api/2/serverInfo"), status=401, body="")
    with pytest.raises(AuthenticationFailed, match="personal access token") as caught:
        gateway.server_info()
    assert TOKEN not in str(caught.value) and TOKEN not in caplog.text


def test_a_400_carries_jiras_error_messages_and_field_errors(http):
    gateway, _ = make_gateway(CLOUD)
    http.put(
        ISSUE,
        status=400,
        json={
            "errorMessages": ["Issue is locked"],
            "errors": {"priority": "Priority name 'Urgent' is not valid"},
        },
    )
    with pytest.raises(BadRequest) as caught:
        gateway.set_priority("CB-1", "Urgent")
    assert caught.value.error_messages == ("Issue is locked",)
    assert caught.value.errors == {"priority": "Priority name 'Urgent' is not valid"}
    assert "Priority name 'Urgent' is not valid" in str(caught.value)
    assert caught.value.ticket == "CB-1" and not caught.value.retryable


def test_a_404_is_not_found(http):
    gateway, _ = make_gateway(CLOUD)
    http.put(
        ISSUE,
        status=404,
        json={"errorMessages": ["Issue does not exist or you do not have permission to see it."]},
    )
    with pytest.raises(NotFound, match="does not exist"):
        gateway.set_priority("CB-1", "High")


def test_an_odd_service_desk_error_body_is_still_a_jira_error(http):
    # ServiceDesk.raise_for_status would fail with UnboundLocalError on this body.
    gateway, _ = make_gateway(CLOUD)
    http.get(url(CLOUD, "rest/servicedeskapi/request/CB-1/sla"), status=400, json={"unexpected": True})
    with pytest.raises(BadRequest):
        gateway.request_sla("CB-1")


def test_no_requests_exception_escapes(http):
    gateway, _ = make_gateway(CLOUD, read_attempts=1)
    http.get(SERVER_INFO, body=requests.exceptions.InvalidURL("bad url"))
    with pytest.raises(JiraError):
        gateway.server_info()


@pytest.mark.parametrize("body", [[], "null", '"text"', "[1, 2]", '{"issues": {"not": "a list"}}'])
def test_an_answer_of_an_unexpected_shape_reads_as_empty(http, body):
    gateway, _ = make_gateway(CLOUD)
    http.get(url(CLOUD, "rest/api/2/search/jql"), body=body if isinstance(body, str) else "[]")
    assert list(gateway.search("project = CB")) == []


# -- observers: what metrics count ------------------------------------------------------------------


def test_observers_see_every_call_with_its_path_template_and_status_and_every_retry(http):
    gateway, _ = make_gateway(CLOUD)
    calls: list[tuple[str, str, int | None]] = []
    retries: list[tuple[str, str]] = []
    gateway.observe(
        on_request=lambda method, template, status, seconds: calls.append((method, template, status)),
        on_retry=lambda reason, template: retries.append((reason, template)),
    )
    http.get(SERVER_INFO, status=503, json={"errorMessages": ["Service unavailable"]})
    http.get(SERVER_INFO, json=INFO)
    gateway.server_info()
    assert calls == [("GET", "rest/api/2/serverInfo", 503), ("GET", "rest/api/2/serverInfo", 200)]
    assert retries == [("unavailable", "rest/api/2/serverInfo")]


def test_a_call_that_gets_no_answer_is_observed_without_a_status(http):
    gateway, _ = make_gateway(CLOUD, read_attempts=1)
    calls: list[int | None] = []
    gateway.observe(on_request=lambda method, template, status, seconds: calls.append(status))
    http.get(SERVER_INFO, body=requests.ConnectionError("refused"))
    with pytest.raises(JiraUnavailable):
        gateway.server_info()
    assert calls == [None]


def test_an_observer_that_fails_does_not_break_the_call(http):
    gateway, _ = make_gateway(CLOUD)

    def broken(method: str, template: str, status: int | None, seconds: float) -> None:
        raise RuntimeError("metrics backend gone")

    gateway.observe(on_request=broken)
    http.get(SERVER_INFO, json=INFO)
    assert gateway.server_info().version == "1001.0.0"
