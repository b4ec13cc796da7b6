"""Every Jira payload shape the receiver handles, Cloud and Data Center, one test per captured-shape fixture.

Each test sends the fixture over HTTP and checks what reached the inbox, then what the event means."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jsm_bridge.clock import ManualClock
from jsm_bridge.store import InboxEvent, Store
from tests.webhook_harness import FIXTURES, Jira, fixture, fixture_bytes, running
from webhooks import ReceiverConfig, create_app, events, shutdown

SECRET = "fixture secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Jira, Store]]:
    # One server for the module (fixtures are independent deliveries); every test reads its own event.
    path = tmp_path_factory.mktemp("fixtures") / "inbox.db"
    store = Store(f"sqlite:///{path}", clock=ManualClock(datetime(2026, 11, 23, 9, tzinfo=UTC)))
    store.migrate()
    app = create_app(ReceiverConfig(store=store, webhook_secret=SECRET))
    with running(app) as url:
        yield Jira(url, SECRET), store
    shutdown(app)
    store.close()


def deliver(server: tuple[Jira, Store], name: str) -> InboxEvent:
    """Send a fixture (signed, as Jira would) and return the inbox event it became."""
    jira, store = server
    response = jira.send(fixture_bytes(name))
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted"}
    [event] = [e for e in store.inbox_list(limit=1000) if e.payload == fixture_bytes(name).decode("utf-8")]
    return event


def meaning(name: str) -> events.Touched:
    touched = events.touched(fixture(name))
    assert isinstance(touched, events.Touched)
    return touched


# -- Cloud --------------------------------------------------------------------------------------


def test_cloud_issue_created_names_the_issue_and_its_project(server: tuple[Jira, Store]) -> None:
    event = deliver(server, "cloud/jira_issue_created")

    assert (event.event_type, event.issue_key, event.flavor) == ("jira:issue_created", "CB-12", "cloud")
    assert (meaning("cloud/jira_issue_created").kind, meaning("cloud/jira_issue_created").project_key) == (
        "created",
        "CB",
    )


def test_cloud_issue_updated_lists_changed_fields_by_field_id(server: tuple[Jira, Store]) -> None:
    event = deliver(server, "cloud/jira_issue_updated")

    assert (event.event_type, event.issue_key) == ("jira:issue_updated", "CB-12")
    touched = meaning("cloud/jira_issue_updated")
    assert touched.kind == "updated"
    assert touched.changed_fields == ("assignee", "customfield_10061")


def test_cloud_status_change_arrives_as_issue_generic_and_is_an_update(server: tuple[Jira, Store]) -> None:
    event = deliver(server, "cloud/jira_issue_updated__issue_generic")

    assert event.issue_key == "CB-12"
    touched = meaning("cloud/jira_issue_updated__issue_generic")
    assert (touched.kind, touched.changed_fields) == ("updated", ("status",))


def test_cloud_issue_deleted_is_stored_for_the_workers_to_forget(server: tuple[Jira, Store]) -> None:
    event = deliver(server, "cloud/jira_issue_deleted")

    assert (event.event_type, event.issue_key) == ("jira:issue_deleted", "CB-12")
    assert meaning("cloud/jira_issue_deleted").kind == "deleted"


def test_cloud_comment_created_names_the_issue_from_its_issue_object(server: tuple[Jira, Store]) -> None:
    event = deliver(server, "cloud/comment_created")

    assert (event.event_type, event.issue_key, event.flavor) == ("comment_created", "CB-12", "cloud")
    touched = meaning("cloud/comment_created")
    assert (touched.kind, touched.comment_id, touched.project_key) == ("commented", "10100", "CB")


def test_cloud_comment_updated_of_an_internal_comment_is_an_edit(server: tuple[Jira, Store]) -> None:
    event = deliver(server, "cloud/comment_updated")

    assert (event.event_type, event.issue_key) == ("comment_updated", "CB-12")
    assert fixture("cloud/comment_updated")["comment"]["jsdPublic"] is False
    assert meaning("cloud/comment_updated").kind == "comment_edited"


def test_cloud_comment_deleted_names_the_issue(server: tuple[Jira, Store]) -> None:
    event = deliver(server, "cloud/comment_deleted")

    assert (event.event_type, event.issue_key) == ("comment_deleted", "CB-12")
    assert meaning("cloud/comment_deleted").kind == "comment_deleted"


# -- Data Center --------------------------------------------------------------------------------


def test_data_center_issue_created_is_recognised_by_user_names_instead_of_account_ids(
    server: tuple[Jira, Store],
) -> None:
    event = deliver(server, "datacenter/jira_issue_created")

    assert (event.event_type, event.issue_key, event.flavor) == ("jira:issue_created", "SUP-7", "datacenter")
    assert meaning("datacenter/jira_issue_created").project_key == "SUP"


def test_data_center_changelog_without_field_ids_lists_translated_display_names(
    server: tuple[Jira, Store],
) -> None:
    event = deliver(server, "datacenter/jira_issue_updated")

    assert event.issue_key == "SUP-7"
    assert meaning("datacenter/jira_issue_updated").changed_fields == ("Status", "Betroffene Benutzer")


def test_data_center_issue_deleted_names_the_issue(server: tuple[Jira, Store]) -> None:
    event = deliver(server, "datacenter/jira_issue_deleted")

    assert (event.event_type, event.issue_key) == ("jira:issue_deleted", "SUP-7")


def test_data_center_comment_created_without_issue_finds_the_issue_id_in_the_comment_self_url(
    server: tuple[Jira, Store],
) -> None:
    event = deliver(server, "datacenter/comment_created")

    assert (event.event_type, event.issue_key, event.flavor) == ("comment_created", "10100", "datacenter")
    touched = meaning("datacenter/comment_created")
    assert (touched.issue_key, touched.issue_id, touched.project_key) == (None, "10100", None)


def test_data_center_comment_created_with_a_user_is_read_the_same_way(server: tuple[Jira, Store]) -> None:
    event = deliver(server, "datacenter/comment_created__with_user")

    assert event.issue_key == "10100"
    assert meaning("datacenter/comment_created__with_user").comment_id == "10502"


def test_data_center_comment_updated_without_user_or_issue_is_accepted(server: tuple[Jira, Store]) -> None:
    assert "user" not in fixture("datacenter/comment_updated")
    event = deliver(server, "datacenter/comment_updated")

    assert (event.event_type, event.issue_key) == ("comment_updated", "10100")
    assert meaning("datacenter/comment_updated").kind == "comment_edited"


def test_data_center_comment_deleted_finds_the_issue_from_the_self_url(server: tuple[Jira, Store]) -> None:
    event = deliver(server, "datacenter/comment_deleted")

    assert (event.event_type, event.issue_key) == ("comment_deleted", "10100")


def test_older_servers_send_a_new_comment_as_issue_updated_with_issue_commented(
    server: tuple[Jira, Store],
) -> None:
    event = deliver(server, "datacenter/jira_issue_updated__issue_commented")

    assert (event.event_type, event.issue_key) == ("jira:issue_updated", "SUP-7")
    assert meaning("datacenter/jira_issue_updated__issue_commented").kind == "commented"


def test_older_servers_send_an_edited_comment_as_issue_comment_edited(server: tuple[Jira, Store]) -> None:
    deliver(server, "datacenter/jira_issue_updated__issue_comment_edited")

    assert meaning("datacenter/jira_issue_updated__issue_comment_edited").kind == "comment_edited"


def test_older_servers_send_a_deleted_comment_as_issue_comment_deleted(server: tuple[Jira, Store]) -> None:
    deliver(server, "datacenter/jira_issue_updated__issue_comment_deleted")

    assert meaning("datacenter/jira_issue_updated__issue_comment_deleted").kind == "comment_deleted"


def test_the_oldest_payloads_without_event_type_name_are_a_comment_when_they_carry_one(
    server: tuple[Jira, Store],
) -> None:
    assert "issue_event_type_name" not in fixture("datacenter/jira_issue_updated__oldest_comment")
    event = deliver(server, "datacenter/jira_issue_updated__oldest_comment")

    assert event.issue_key == "SUP-7"
    assert meaning("datacenter/jira_issue_updated__oldest_comment").kind == "commented"


def test_the_oldest_payloads_without_event_type_name_are_an_update_when_they_carry_a_changelog(
    server: tuple[Jira, Store],
) -> None:
    event = deliver(server, "datacenter/jira_issue_updated__oldest_change")

    assert event.issue_key == "SUP-7"
    touched = meaning("datacenter/jira_issue_updated__oldest_change")
    assert (touched.kind, touched.changed_fields) == ("updated", ("priority",))


# -- the fixtures themselves ----------------------------------------------------------------------


def _fixture_name(event: str) -> str:
    return event.replace(":", "_")


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_every_handled_event_type_has_a_fixture_of_each_flavor(flavor: str) -> None:
    missing = [e for e in events.HANDLERS if not (FIXTURES / flavor / f"{_fixture_name(e)}.json").is_file()]
    assert missing == []


def test_every_fixture_is_tested_here() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    untested = [
        f"{path.parent.name}/{path.stem}"
        for path in sorted(FIXTURES.glob("*/*.json"))
        if path.parent.name != "ignored" and f'"{path.parent.name}/{path.stem}"' not in source
    ]
    assert untested == []


def test_every_fixture_is_an_object_with_a_handled_webhook_event_and_unicode_text() -> None:
    for path in sorted(FIXTURES.glob("*/*.json")):
        payload = fixture(f"{path.parent.name}/{path.stem}")
        handled = payload["webhookEvent"] in events.HANDLERS
        assert handled == (path.parent.name != "ignored"), path
        if handled:
            assert not path.read_bytes().isascii(), f"{path.name} should carry non-ASCII text"
