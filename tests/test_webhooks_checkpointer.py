"""The WAL checkpointer: checkpoints beside the commits, and under the commit lock only to restart a WAL
that writers kept from being copied in full."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from jsm_bridge.store import Store
from webhooks.app import create_app, shutdown
from webhooks.checkpointer import WalCheckpointer
from webhooks.config import ReceiverConfig


class CountingLock:
    def __init__(self) -> None:
        self.taken = 0

    def __enter__(self) -> None:
        self.taken += 1

    def __exit__(self, *exc: object) -> None:
        return None


class FakeWal:
    """wal_checkpoint() answers from a script of (pages, copied) outcomes."""

    def __init__(self, *outcomes: tuple[int, int] | None) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def wal_checkpoint(self) -> tuple[int, int] | None:
        self.calls += 1
        return self.outcomes.pop(0)


def test_a_pass_that_copies_the_whole_wal_never_takes_the_commit_lock() -> None:
    lock = CountingLock()
    checkpointer = WalCheckpointer(FakeWal((5000, 5000)), lock, limit_pages=4096)

    assert checkpointer.run_once() == (5000, 5000)
    assert lock.taken == 0


def test_a_small_wal_that_writers_kept_busy_is_left_for_the_next_pass() -> None:
    lock = CountingLock()
    checkpointer = WalCheckpointer(FakeWal((300, 120)), lock, limit_pages=4096)

    assert checkpointer.run_once() == (300, 120)
    assert lock.taken == 0


def test_a_large_wal_that_writers_kept_busy_is_finished_under_the_commit_lock() -> None:
    lock = CountingLock()
    wal = FakeWal((5000, 4800), (5010, 5010))
    checkpointer = WalCheckpointer(wal, lock, limit_pages=4096)

    assert checkpointer.run_once() == (5010, 5010)
    assert lock.taken == 1 and wal.calls == 2


def test_a_failing_checkpoint_is_logged_and_the_thread_keeps_going() -> None:
    class Flaky:
        calls = 0

        def wal_checkpoint(self) -> tuple[int, int] | None:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise RuntimeError("disk I/O error")
            return None

    checkpointer = WalCheckpointer(Flaky(), CountingLock(), interval=0.01)
    checkpointer.start()
    deadline = time.monotonic() + 5
    while Flaky.calls < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    checkpointer.stop()

    assert Flaky.calls >= 3


def test_the_production_configuration_checkpoints_from_a_thread_and_stops_it_on_shutdown(
    tmp_path: Path,
) -> None:
    env = {"JSM_BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'inbox.db'}"}
    config = ReceiverConfig.from_env(env)
    config.store.migrate()
    app = create_app(config)
    state = app.extensions["jsm_bridge"]

    assert config.store.autocheckpoint is False
    assert state.checkpointer is not None
    shutdown(app, timeout=5)
    assert not any(t.name == "inbox-wal-checkpointer" for t in threading.enumerate())


def test_a_store_that_checkpoints_by_itself_gets_no_checkpointer(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'inbox.db'}")
    store.migrate()
    app = create_app({"store": store})

    assert app.extensions["jsm_bridge"].checkpointer is None
