"""Metrics across server processes: the folder the master prepares before forking."""

from __future__ import annotations

import os
from pathlib import Path

from webhooks.metrics_sharing import MULTIPROCESS_ENV, share_between_processes, stop_sharing


def test_a_given_folder_is_emptied_of_an_earlier_runs_values_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"old")
    (folder / "notes.txt").write_text("not ours")
    env = {MULTIPROCESS_ENV: str(folder)}

    assert share_between_processes(env) == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert env[MULTIPROCESS_ENV] == str(folder)


def test_without_a_folder_a_new_one_is_made_and_named_for_the_workers() -> None:
    env: dict[str, str] = {}

    folder = share_between_processes(env)

    assert os.path.isdir(folder) and os.listdir(folder) == []
    assert env[MULTIPROCESS_ENV] == folder
    stop_sharing()
    assert not os.path.exists(folder)


def test_at_exit_a_folder_made_at_start_goes_and_a_given_one_stays(tmp_path: Path) -> None:
    given = tmp_path / "metrics"
    share_between_processes({MULTIPROCESS_ENV: str(given)})
    (given / "counter_1.db").write_bytes(b"values")

    stop_sharing()

    assert (given / "counter_1.db").exists()
