"""The config watcher against a real folder: what an edit, an editor's save and a touch put on the queue."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from queue import SimpleQueue

import pytest

from taskctl.daemon import watch
from taskctl.daemon.events import ConfigChanged, DaemonEvent
from taskctl.daemon.watch import ConfigWatcher, config_digest
from taskctl.workspace import Workspace
from tests.conftest import write

WAIT = 15.0  # generous: the machine is shared; a passing test never waits this long


@pytest.fixture
def config(empty_workspace: Workspace) -> Path:
    return write(empty_workspace.config_dir / "processes.yaml", "processes: {}\n")


def started(ws: Workspace, **options: object) -> tuple[ConfigWatcher, SimpleQueue[DaemonEvent]]:
    events: SimpleQueue[DaemonEvent] = SimpleQueue()
    watcher = ConfigWatcher(ws, events, debounce=0.05, **options)  # type: ignore[arg-type]
    watcher.start()
    return watcher, events


@pytest.fixture
def watching(
    empty_workspace: Workspace, config: Path
) -> Iterator[tuple[ConfigWatcher, SimpleQueue[DaemonEvent]]]:
    watcher, events = started(empty_workspace)
    yield watcher, events
    watcher.stop()


def test_an_in_place_write_is_one_change(
    empty_workspace: Workspace, config: Path, watching: tuple[ConfigWatcher, SimpleQueue[DaemonEvent]]
) -> None:
    watcher, events = watching
    with config.open("w") as out:  # truncate, then write: the way most programs save
        out.write("processes: {}\n# edited\n")
    assert events.get(timeout=WAIT) == ConfigChanged(config_digest(empty_workspace))
    assert watcher.digest == config_digest(empty_workspace)


def test_a_save_by_rename_is_seen(
    empty_workspace: Workspace, config: Path, watching: tuple[ConfigWatcher, SimpleQueue[DaemonEvent]]
) -> None:
    _, events = watching
    fresh = write(config.with_name(".processes.yaml.tmp"), "processes: {}\n# saved by rename\n")
    os.replace(fresh, config)
    assert events.get(timeout=WAIT) == ConfigChanged(config_digest(empty_workspace))


def test_a_new_file_in_a_new_subfolder_is_seen(
    empty_workspace: Workspace, watching: tuple[ConfigWatcher, SimpleQueue[DaemonEvent]]
) -> None:
    _, events = watching
    write(empty_workspace.config_dir / "team" / "more.yaml", "threads: {}\n")
    assert events.get(timeout=WAIT) == ConfigChanged(config_digest(empty_workspace))


def test_a_touch_or_the_same_bytes_again_change_nothing(
    config: Path, watching: tuple[ConfigWatcher, SimpleQueue[DaemonEvent]]
) -> None:
    watcher, events = watching
    for change in (config.touch, lambda: config.write_text(config.read_text())):
        checks = watcher.checks
        change()
        assert watcher.wait_for_check(checks, WAIT), "the watcher never looked"
        assert events.empty()


def test_without_inotify_it_polls(
    empty_workspace: Workspace, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoInotify(watch.Observer):  # type: ignore[misc,valid-type]
        def start(self) -> None:
            raise OSError(28, "inotify watch limit reached")

    monkeypatch.setattr(watch, "Observer", NoInotify)
    watcher, events = started(empty_workspace, poll_interval=0.1)
    try:
        assert watcher.polling_reason == (
            "inotify is unavailable ([Errno 28] inotify watch limit reached); polling config/ every 0.1 s"
        )
        fresh = write(config.with_name("new.yaml"), "threads: {}\n")
        os.replace(fresh, config)
        assert events.get(timeout=WAIT) == ConfigChanged(config_digest(empty_workspace))
    finally:
        watcher.stop()
