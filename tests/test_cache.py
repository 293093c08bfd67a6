"""The config cache: an unchanged file is not parsed or validated again, and nothing stale is ever used."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from taskctl.config import cache as config_cache
from taskctl.config import load_config, loader
from taskctl.config.loader import LoadedConfig, PendingChanges
from taskctl.config.models import to_json
from taskctl.errors import ConfigError
from taskctl.workspace import Workspace
from tests.conftest import write

THREADS = "threads:\n  fetch:\n    code: print(1)\n    timeout: 5m\n    retries: 2\n    tags: [shop]\n"
PROCESSES = (
    "processes:\n  nightly:\n    threads: [fetch]\n    schedule: daily at 02:00\n"
    "    retention: {keep_runs: 3}\n"
)


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The config files parsed and validated (not taken from the cache), in the order they were."""
    seen: list[str] = []
    original = loader._parse_and_validate

    def spy(display: str, *args: Any) -> Any:
        seen.append(display)
        return original(display, *args)

    monkeypatch.setattr(loader, "_parse_and_validate", spy)
    return seen


def workspace(ws: Workspace) -> Workspace:
    write(ws.config_dir / "taskctl.yaml", "timezone: Europe/Berlin\nretention: {max_age: 30d}\n")
    write(ws.config_dir / "threads.yaml", THREADS)
    write(ws.config_dir / "processes.yaml", PROCESSES)
    return ws


def snapshot(config: LoadedConfig) -> dict[str, Any]:
    """Everything a load gives, as plain data."""
    return {
        "settings": to_json(config.settings),
        "threads": to_json(config.threads),
        "processes": to_json(config.processes),
        "retention_keys": config.processes["nightly"].retention.keys_set  # type: ignore[union-attr]
        if "nightly" in config.processes
        else None,
        "schedules": {name: [s.text for s in found] for name, found in config.schedules.items()},
        "origins": {f"{s}.{n}": str(o) for (s, n), o in config.origins.items()},
        "warnings": [w.render() for w in config.warnings],
        "revision": config.revision,
        "files": config.files,
    }


def test_a_second_load_takes_every_unchanged_file_from_the_cache_and_gives_the_same_config(
    empty_workspace: Workspace, parsed: list[str]
) -> None:
    ws = workspace(empty_workspace)

    first = snapshot(load_config(ws))
    second = snapshot(load_config(ws))

    assert parsed == ["config/processes.yaml", "config/taskctl.yaml", "config/threads.yaml"]
    assert second == first
    assert first["retention_keys"] == frozenset({"keep_runs"})
    assert first["threads"]["fetch"]["timeout"] == 300.0
    assert first["threads"]["fetch"]["retries"] == {"count": 2, "delay": 0.0, "backoff": 1.0}


def test_an_edit_is_seen_even_with_the_same_size_and_modification_time(
    empty_workspace: Workspace, parsed: list[str]
) -> None:
    ws = workspace(empty_workspace)
    threads = ws.config_dir / "threads.yaml"
    load_config(ws)
    before = threads.stat()

    threads.write_text(THREADS.replace("5m", "7m"), encoding="utf-8")
    os.utime(threads, ns=(before.st_atime_ns, before.st_mtime_ns))

    assert load_config(ws).threads["fetch"].timeout == 420.0
    assert parsed[-1] == "config/threads.yaml" and len(parsed) == 4


def test_a_new_file_and_a_removed_file_are_seen(empty_workspace: Workspace) -> None:
    ws = workspace(empty_workspace)
    load_config(ws)

    write(ws.config_dir / "more.yaml", "threads:\n  extra:\n    code: print(2)\n")
    assert sorted(load_config(ws).threads) == ["extra", "fetch"]

    (ws.config_dir / "more.yaml").unlink()
    assert sorted(load_config(ws).threads) == ["fetch"]
    stored = json.loads((ws.state_dir / config_cache.CACHE_FILE).read_text(encoding="utf-8"))
    assert sorted(stored["files"]) == ["config/processes.yaml", "config/taskctl.yaml", "config/threads.yaml"]


def test_a_file_moved_into_the_settings_place_is_validated_again(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "team/taskctl.yaml", "threads:\n  t:\n    code: print(1)\n")
    load_config(ws)

    (ws.config_dir / "team/taskctl.yaml").rename(ws.config_dir / "taskctl.yaml")
    write(ws.config_dir / "taskctl.yaml", "max_parallel_runs: 2\n")

    assert load_config(ws).settings.max_parallel_runs == 2


def test_a_cache_written_by_another_taskctl_is_not_used(
    empty_workspace: Workspace, parsed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace(empty_workspace)
    load_config(ws)

    monkeypatch.setattr(config_cache, "__version__", "99.0")
    load_config(ws)
    load_config(ws)

    assert len(parsed) == 6  # every file again once, then the cache of this version


def test_an_edited_taskctl_source_file_is_another_taskctl(
    empty_workspace: Workspace, parsed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace(empty_workspace)
    load_config(ws)

    original = config_cache._stamp
    monkeypatch.setattr(
        config_cache, "_stamp", lambda path: original(path) + ("+" if path.name == "spec.py" else "")
    )
    load_config(ws)

    assert len(parsed) == 6


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff not json",
        b'{"format": 1, "code": "x", "files": []}',
        b"[1, 2, 3]",
    ],
    ids=["garbage", "another fingerprint", "not a mapping"],
)
def test_a_corrupt_cache_is_ignored_and_rewritten(
    empty_workspace: Workspace, parsed: list[str], content: bytes
) -> None:
    ws = workspace(empty_workspace)
    ws.state_dir.mkdir()
    (ws.state_dir / config_cache.CACHE_FILE).write_bytes(content)

    assert snapshot(load_config(ws))["threads"]["fetch"]["tags"] == ["shop"]
    load_config(ws)

    assert len(parsed) == 3


def test_a_cache_entry_of_the_wrong_shape_is_ignored(empty_workspace: Workspace, parsed: list[str]) -> None:
    ws = workspace(empty_workspace)
    expected = snapshot(load_config(ws))
    path = ws.state_dir / config_cache.CACHE_FILE
    stored = json.loads(path.read_text(encoding="utf-8"))
    stored["files"]["config/threads.yaml"]["data"]["threads"] = {"fetch": {"no_such_key": 1}}
    stored["files"]["config/processes.yaml"]["data"]["lines"] = "not lines"
    path.write_text(json.dumps(stored), encoding="utf-8")

    assert snapshot(load_config(ws)) == expected
    assert parsed[3:] == ["config/processes.yaml", "config/threads.yaml"]


def test_a_workspace_where_the_cache_cannot_be_written_still_loads(
    empty_workspace: Workspace, parsed: list[str]
) -> None:
    ws = workspace(empty_workspace)
    ws.state_dir.write_text("not a folder\n", encoding="utf-8")  # as unwritable as it gets, even for root

    first = snapshot(load_config(ws))
    second = snapshot(load_config(ws))

    assert first == second
    assert len(parsed) == 6
    assert ws.state_dir.read_text(encoding="utf-8") == "not a folder\n"


def test_problems_are_never_cached(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "t.yaml", "threads:\n  t:\n    code: print(1)\n    timeout: soon\n")

    for _ in range(2):
        with pytest.raises(ConfigError) as caught:
            load_config(ws)
        assert [p.render() for p in caught.value.problems] == [
            "config/t.yaml:4: threads.t.timeout: 'soon' is not a duration (use e.g. 90s, 10m, 2h, 1d, 1h30m)"
        ]


def test_warnings_come_back_from_the_cache_with_their_file_and_line(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "t.yaml", "threads:\n  t:\n    code: print(1)\n    description: on\n")

    first = [w.render() for w in load_config(ws).warnings]
    second = [w.render() for w in load_config(ws).warnings]

    assert second == first
    assert first[0].startswith("config/t.yaml:4: threads.t.description: on is read as the text 'on'")


def test_a_value_json_cannot_give_back_keeps_its_problem_on_every_load(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(
        ws.config_dir / "t.yaml",
        "threads:\n  f:\n    func: 'checks:run'\n    kwargs:\n      when: !!timestamp 2026-01-01\n",
    )

    for _ in range(2):
        with pytest.raises(ConfigError) as caught:
            load_config(ws)
        assert [p.message for p in caught.value.problems] == [
            "2026-01-01 is a date, not a plain value (quote it to pass it as text)"
        ]


def test_a_pending_edit_leaves_the_cache_as_it_was(empty_workspace: Workspace) -> None:
    ws = workspace(empty_workspace)
    load_config(ws)
    path = ws.state_dir / config_cache.CACHE_FILE
    before = path.read_bytes()

    changed = PendingChanges(texts={ws.config_dir / "threads.yaml": THREADS.replace("5m", "9m")})
    assert load_config(ws, pending=changed).threads["fetch"].timeout == 540.0

    assert path.read_bytes() == before
    assert load_config(ws).threads["fetch"].timeout == 300.0


def test_files_outside_config_are_checked_on_every_load(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    write(ws.config_dir / "t.yaml", "threads:\n  s: {}\n")
    write(ws.thread_dir("s") / "main.py", "print(1)\n")
    load_config(ws)

    (ws.thread_dir("s") / "main.py").unlink()

    with pytest.raises(ConfigError) as caught:
        load_config(ws)
    assert "script threads/s/main.py does not exist" in caught.value.problems[0].message


def test_the_cache_is_kept_in_the_workspace_state_folder(empty_workspace: Workspace) -> None:
    ws = workspace(empty_workspace)
    load_config(ws)

    assert [p.name for p in ws.state_dir.iterdir()] == [config_cache.CACHE_FILE]
    assert Path(ws.state_dir / config_cache.CACHE_FILE).stat().st_size > 0


def test_a_pending_edit_saves_the_other_files_for_the_next_load(
    empty_workspace: Workspace, parsed: list[str]
) -> None:
    ws = workspace(empty_workspace)  # no cache yet, as after an upgrade

    changed = PendingChanges(texts={ws.config_dir / "threads.yaml": THREADS.replace("5m", "9m")})
    load_config(ws, pending=changed)
    parsed.clear()
    config = load_config(ws)

    assert parsed == ["config/threads.yaml"]  # the edit was not written: the file on disk is new to the cache
    assert config.threads["fetch"].timeout == 300.0
