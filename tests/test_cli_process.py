"""`taskctl process add|edit|rm` as a user runs them, and what `enabled: false` does to a process."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from taskctl.cli.main import app
from taskctl.config import load_config
from taskctl.workspace import Workspace
from tests.conftest import write

runner = CliRunner()


def invoke(ws: Workspace, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--root", str(ws.root), *args])
    return result.exit_code, result.stdout, result.stderr


def processes_yaml(ws: Workspace) -> str:
    return (ws.config_dir / "processes.yaml").read_text(encoding="utf-8")


EXAMPLE = """\
# Processes chain threads in series and say when they run.
processes:
  example:
    description: Seed the SKU table, scrape its product pages and write the ratings back, then summarise.
    threads: [seed_skus, product_pages, summary]
    schedule:
      - daily at 06:30
      - every 6 hours
      - monday at 09:00
      - "15 12 * * 1-5"
      - 2027-01-04 09:00
    on_failure: stop
    overlap: skip
    tags: [example]
"""


def test_add_appends_the_process_to_processes_yaml(example: Workspace) -> None:
    code, out, err = invoke(
        example, "process", "add", "nightly", "--thread", "product_pages", "--thread", "summary",
        "--schedule", "30 2 * * *", "--schedule", "2026-12-24 18:00", "--timezone", "Europe/Berlin",
    )  # fmt: skip
    assert (code, out, err) == (0, "added process 'nightly' to config/processes.yaml\n", "")
    assert processes_yaml(example) == EXAMPLE + (
        "  nightly:\n"
        "    threads: [product_pages, summary]\n"
        "    schedule:\n"
        "      - 30 2 * * *\n"
        "      - 2026-12-24 18:00\n"
        "    timezone: Europe/Berlin\n"
    )
    assert load_config(example).processes["nightly"].schedule == ["30 2 * * *", "2026-12-24 18:00"]


def test_add_of_a_chain_with_a_missing_thread_is_refused(example: Workspace) -> None:
    code, _, err = invoke(example, "process", "add", "nightly", "--thread", "sumary")
    assert code == 1
    assert err == (
        "error: nothing was written; the config would not be valid after this change:\n"
        "error: config/processes.yaml:16: processes.nightly.threads[0]: no thread named 'sumary' "
        "(did you mean 'summary'?)\n"
    )
    assert processes_yaml(example) == EXAMPLE


def test_words_with_a_few_choices_are_checked_before_anything_else(example: Workspace) -> None:
    code, _, err = invoke(example, "process", "add", "p", "--thread", "summary", "--overlap", "skp")
    assert (code, err) == (2, "error: overlap 'skp' is not valid for a process; did you mean 'skip'?\n")


def test_edit_schedules_threads_and_state(example: Workspace) -> None:
    code, out, _ = invoke(
        example, "process", "edit", "example", "--add-schedule", "weekdays at 07:45", "--remove-schedule",
        "every 6 hours", "--disable",
    )  # fmt: skip
    assert (code, out) == (0, "changed process 'example' in config/processes.yaml\n")
    assert processes_yaml(example) == EXAMPLE.replace("      - every 6 hours\n", "").replace(
        "      - 2027-01-04 09:00\n", "      - 2027-01-04 09:00\n      - weekdays at 07:45\n"
    ).replace("    tags: [example]\n", "    tags: [example]\n    enabled: false\n")

    code, _, _ = invoke(
        example, "process", "edit", "example", "--threads", "summary,product_pages", "--enable"
    )
    assert code == 0
    assert "    threads: [summary, product_pages]\n" in processes_yaml(example)
    assert "enabled" not in processes_yaml(example)


def test_removing_a_schedule_that_is_not_there_names_the_ones_that_are(example: Workspace) -> None:
    code, _, err = invoke(example, "process", "edit", "example", "--remove-schedule", "30 2 * * *")
    assert code == 2
    assert err == (
        "error: process 'example' has no schedule '30 2 * * *' (its schedule: 'daily at 06:30', 'every 6 hours', "
        "'monday at 09:00', '15 12 * * 1-5', '2027-01-04 09:00')\n"
    )


def test_a_disabled_process_is_listed_skipped_by_upcoming_and_still_runs_by_hand(
    empty_workspace: Workspace,
) -> None:
    write(empty_workspace.config_dir / "threads.yaml", "threads:\n  hello:\n    code: print('hi')\n")
    invoke(
        empty_workspace,
        "process",
        "add",
        "p",
        "--thread",
        "hello",
        "--schedule",
        "every 1 hours",
        "--disable",
    )
    assert "    enabled: false\n" in processes_yaml(empty_workspace)
    records = json.loads(invoke(empty_workspace, "process", "list", "--json")[1])
    assert [(r["name"], r["enabled"]) for r in records] == [("p", False)]
    assert invoke(empty_workspace, "upcoming")[1] == "no upcoming runs\ndisabled (not scheduled): p\n"
    result = runner.invoke(app, ["--root", str(empty_workspace.root), "run", "p"])
    assert result.exit_code == 0
    assert result.stderr.startswith("note: 'p' is disabled (not scheduled); running it because you asked\n")


def test_rm_keeps_the_run_folders_unless_purged(example: Workspace) -> None:
    write(example.runs_dir("example") / "2026-11-22_02-30-00" / "out.txt", "kept\n")
    code, out, _ = invoke(example, "process", "rm", "example", "--dry-run")
    assert code == 0
    assert out.startswith("--- a/config/processes.yaml\n+++ b/config/processes.yaml\n")
    assert processes_yaml(example) == EXAMPLE

    code, out, err = invoke(example, "process", "rm", "example")
    assert (code, out, err) == (0, "removed process 'example' from config/processes.yaml\n", "")
    assert (
        processes_yaml(example)
        == "# Processes chain threads in series and say when they run.\nprocesses: {}\n"
    )
    assert (example.runs_dir("example") / "2026-11-22_02-30-00" / "out.txt").exists()


def test_purging_runs_needs_yes_without_a_terminal(example: Workspace) -> None:
    write(example.runs_dir("example") / "2026-11-22_02-30-00" / "out.txt", "old\n")
    code, _, err = invoke(example, "process", "rm", "example", "--purge-runs")
    assert code == 2
    assert err == (
        "error: --purge-runs deletes 1 run folder of process/example/; add --yes when there is no terminal to "
        "ask on\n"
    )
    assert processes_yaml(example) == EXAMPLE
    code, out, _ = invoke(example, "process", "rm", "example", "--purge-runs", "--yes", "--json")
    assert code == 0
    result = json.loads(out)
    assert (result["action"], result["runs_removed"]) == ("remove", 1)
    assert not example.runs_dir("example").exists()


def test_a_scheduled_thread_is_not_a_process_to_remove(empty_workspace: Workspace) -> None:
    write(
        empty_workspace.config_dir / "threads.yaml", "threads:\n  tick:\n    code: x\n    schedule: hourly\n"
    )
    code, _, err = invoke(empty_workspace, "process", "rm", "tick")
    assert code == 1
    assert (
        err
        == "error: no process named 'tick'; 'tick' is a thread; change its schedule with 'taskctl thread edit tick'\n"
    )
