"""`jsm-bridge ledger list|retry`: what an operator sees of the ledger, and making a given-up action owed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jsm_bridge.actions import AddComment, Label
from jsm_bridge.cli import SUBCOMMANDS, build_parser, main
from jsm_bridge.clock import ManualClock
from jsm_bridge.ledger_admin import run as ledger_run
from jsm_bridge.store import Store

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}", clock=ManualClock(START))
    store.migrate()
    yield store
    store.close()


def ledger(store: Store, *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["ledger", *argv])
    out = io.StringIO()
    return ledger_run(args, store=store, out=out), out.getvalue()


def given_up(store: Store, ticket: str = "SUP-7") -> str:
    """An escalation whose transition the workflow never offered: failed for good after its attempts."""
    action = Label(key=f"{ticket}:label:escalated", ticket=ticket, rule="escalate", reason="late", at=START,
                   add=("escalated",))  # fmt: skip
    assert store.ledger_claim(action, "host-1")
    store.ledger_failed(action.key, "TransitionNotAvailable: no transition to Escalated", None)
    return action.key


def done(store: Store, ticket: str = "SUP-8") -> str:
    action = AddComment(key=f"{ticket}:ack", ticket=ticket, rule="acknowledge", reason="new", at=START,
                        body="Thanks", public=True)  # fmt: skip
    assert store.ledger_claim(action, "host-1")
    store.ledger_done(action.key)
    return action.key


def test_ledger_is_a_subcommand() -> None:
    assert SUBCOMMANDS["ledger"][0] == "jsm_bridge.ledger_admin"


def test_ledger_list_shows_given_up_actions_with_their_attempts_and_error(store: Store) -> None:
    given_up(store)
    done(store)
    code, out = ledger(store, "list")
    assert code == 0
    assert "given-up" in out and "SUP-7:label:escalated" in out and "TransitionNotAvailable" in out
    assert "SUP-8:ack" in out and "2 action(s)" in out


def test_ledger_list_filters_by_state_and_ticket(store: Store) -> None:
    failed_key = given_up(store)
    done(store)
    given_up(store, "SUP-9")
    _code, out = ledger(store, "list", "--state", "failed", "--ticket", "SUP-7", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["key"], r["given_up"]) for r in rows] == [(failed_key, True)]


def test_ledger_retry_makes_a_given_up_action_owed_again_now(store: Store) -> None:
    key = given_up(store)
    store.cache_put("SUP-7", "support", START + timedelta(days=3), None)
    code, out = ledger(store, "retry", key)
    assert code == 0 and "owed again" in out
    entry = store.ledger_get(key)
    assert entry is not None and (entry.state, entry.attempts, entry.retry_at) == ("failed", 0, START)
    assert store.cache_due(START) == [("SUP-7", "support")]
    action = Label(key=key, ticket="SUP-7", rule="escalate", reason="late", at=START, add=("escalated",))
    assert store.ledger_claim(action, "host-2")  # the next pass may carry it out


def test_ledger_retry_refuses_an_action_that_is_not_failed(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    key = done(store)
    assert ledger(store, "retry", key)[0] == 1
    assert "only failed actions are retried" in capsys.readouterr().err


def test_ledger_retry_of_an_unknown_key_fails_and_says_so(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ledger(store, "retry", "SUP-1:nothing")[0] == 1
    assert "no ledger entry" in capsys.readouterr().err


def test_ledger_reads_the_database_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JSM_BRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert main(["ledger", "list"]) == 0
