"""Choosing threads, processes and runs by tag."""

from __future__ import annotations

from taskctl.config import load_config
from taskctl.tags import TagFilter, known_tags
from taskctl.workspace import Workspace
from tests.conftest import write


def tagged_workspace(ws: Workspace) -> Workspace:
    write(
        ws.config_dir / "threads.yaml",
        "threads:\n"
        "  scrape: {code: print(1), tags: [amazon, daily]}\n"
        "  report: {code: print(2), tags: [daily], schedule: hourly}\n"
        "  tidy: {code: print(3)}\n",
    )
    write(
        ws.config_dir / "processes.yaml",
        "processes:\n  nightly: {threads: [scrape, tidy], tags: [nightly]}\n  adhoc: {threads: [tidy]}\n",
    )
    return ws


def test_a_filter_chooses_what_carries_any_of_its_tags(empty_workspace: Workspace) -> None:
    config = load_config(tagged_workspace(empty_workspace))

    daily = TagFilter.of(["daily"])
    either = TagFilter.of(["amazon", "nightly"])

    assert daily.threads(config) == ["report", "scrape"]
    assert daily.processes(config) == ["report"]  # a scheduled thread is a process with its thread's tags
    assert daily.runnables(config) == {"report", "scrape"}  # `thread run scrape` runs as process 'scrape'
    assert either.threads(config) == ["scrape"]
    assert either.processes(config) == ["nightly"]


def test_no_tags_choose_everything(empty_workspace: Workspace) -> None:
    config = load_config(tagged_workspace(empty_workspace))

    everything = TagFilter.of(None)

    assert everything.threads(config) == ["report", "scrape", "tidy"]
    assert everything.processes(config) == ["adhoc", "nightly", "report"]


def test_tags_nothing_has_are_named(empty_workspace: Workspace) -> None:
    config = load_config(tagged_workspace(empty_workspace))

    assert TagFilter.of(["daily", "dayly", " "]).unknown(config) == ["dayly"]
    assert known_tags(config) == {"amazon", "daily", "nightly"}
