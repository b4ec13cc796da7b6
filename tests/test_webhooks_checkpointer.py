"""The WAL checkpointer: checkpoints beside the commits, and under the commit lock only to empty a WAL
that has grown past its bound."""

from __future__ import annotations

import time
from pathlib import Path

from jsm_bridge.store import Store
from webhooks.app import create_app, shutdown
from webhooks.checkpointer import WalCheckpointer
from webhooks.config import ReceiverConfig


class CountingLock:
    def __init__(self) -> None:
        self.taken = 0
        self.held = False

    def __enter__(self) -> None:
        self.taken += 1
        self.held = True

    def __exit__(self, *exc: object) -> None:
        self.held = False


class FakeWal:
    """wal_checkpoint() answers from a script of (pages, copied) outcomes and records its modes, and
    whether the commit lock was held at each call."""

    def __init__(self, *outcomes: tuple[int, int] | None, lock: CountingLock | None = None) -> None:
        self.outcomes = list(outcomes)
        self.restarts: list[bool] = []
        self.locked: list[bool] = []
        self.lock = lock

    def wal_checkpoint(self, restart: bool = False) -> tuple[int, int] | None:
        self.restarts.append(restart)
        self.locked.append(bool(self.lock and self.lock.held))
        return self.outcomes.pop(0)


def test_a_wal_under_its_bound_is_checkpointed_without_holding_off_commits() -> None:
    lock = CountingLock()
    wal = FakeWal((300, 120))
    checkpointer = WalCheckpointer(wal, lock, limit_pages=4096)

    assert checkpointer.run_once() == (300, 120)
    assert lock.taken == 0 and wal.restarts == [False]


def test_a_wal_past_its_bound_is_restarted_under_the_commit_lock_after_a_second_pass_beside_it() -> None:
    lock = CountingLock()
    wal = FakeWal((5000, 4800), (5090, 5000), (0, 0), lock=lock)
    checkpointer = WalCheckpointer(wal, lock, limit_pages=4096)

    assert checkpointer.run_once() == (0, 0)
    # The second pass copies what arrived during the first without holding off commits, so that the
    # pass under the lock has only a few pages left.
    assert wal.restarts == [False, False, True]
    assert wal.locked == [False, False, True]
    assert lock.taken == 1 and checkpointer.locked_passes == 1


def test_a_busy_checkpoint_is_left_for_the_next_pass() -> None:
    lock = CountingLock()
    wal = FakeWal(None)
    checkpointer = WalCheckpointer(wal, lock, limit_pages=4096)

    assert checkpointer.run_once() is None
    assert lock.taken == 0


def test_a_failing_checkpoint_is_logged_and_the_thread_keeps_going() -> None:
    class Flaky:
        calls = 0

        def wal_checkpoint(self, restart: bool = False) -> tuple[int, int] | None:
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
    thread = state.checkpointer._thread
    assert thread is not None and thread.is_alive() and thread.name == "inbox-wal-checkpointer"
    shutdown(app, timeout=5)
    # This app's thread (other tests' apps in this process may have threads of the same name).
    assert not thread.is_alive()


def test_a_store_that_checkpoints_by_itself_gets_no_checkpointer(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'inbox.db'}")
    store.migrate()
    app = create_app({"store": store})

    assert app.extensions["jsm_bridge"].checkpointer is None
