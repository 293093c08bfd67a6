"""The workspace-level commands through the CLI: init, validate, schema, upcoming, thread/process list and show."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskctl import __version__
from taskctl.cli.main import app
from taskctl.skus import SkuTable
from taskctl.workspace import Workspace
from tests.conftest import write

runner = CliRunner()


def invoke(ws: Workspace | None, *args: str) -> tuple[int, str, str]:
    argv = ["--root", str(ws.root), *args] if ws else list(args)
    result = runner.invoke(app, argv)
    return result.exit_code, result.stdout, result.stderr


def test_version() -> None:
    assert invoke(None, "--version") == (0, f"taskctl {__version__}\n", "")


def test_every_command_has_help_text() -> None:
    from typer.main import get_command

    def walk(command: object, path: list[str]) -> list[tuple[str, str]]:
        found = [(" ".join(path), getattr(command, "help", None) or "")]
        for name, sub in getattr(command, "commands", {}).items():
            found += walk(sub, [*path, name])
        return found

    commands = walk(get_command(app), ["taskctl"])
    assert len(commands) > 8
    assert [name for name, text in commands if not text.strip()] == []


def test_init_creates_a_working_example_and_refuses_to_overwrite(tmp_path: Path) -> None:
    code, out, _ = invoke(None, "init", str(tmp_path / "demo"))
    assert code == 0
    assert out.startswith(f"created a taskctl workspace in {tmp_path / 'demo'}\n")
    assert (tmp_path / "demo/config/processes.yaml").is_file()
    assert (tmp_path / "demo/threads/seed_skus/skus.csv").is_file()
    assert "  skus.db    the SKU table, seeded with the example's products (taskctl sku list)\n" in out
    with SkuTable.open(tmp_path / "demo/skus.db") as table:
        assert [sku.sku for sku in table.iter_all()] == ["B07-BLU-L", "B07-RED-M", "K12-BLK"]
    assert "/process/" in (tmp_path / "demo/.gitignore").read_text()

    code, out, err = invoke(None, "init", str(tmp_path / "demo"))
    assert (code, out) == (1, "")
    assert err == (
        f"error: '{tmp_path / 'demo'}' already has a config/ folder; taskctl init does not overwrite a workspace "
        "(choose an empty folder).\n"
    )


def test_init_onto_a_file_is_one_sentence_and_changes_nothing(tmp_path: Path) -> None:
    write(tmp_path / "notes.txt", "mine\n")

    code, out, err = invoke(None, "init", str(tmp_path / "notes.txt"))

    assert (code, out) == (1, "")
    assert err == (
        f"error: '{tmp_path / 'notes.txt'}' is a file, not a folder; choose a new or empty folder for the "
        "workspace.\n"
    )
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


@pytest.mark.parametrize(
    "place", ["notes.txt/ws", "/proc/taskctl-init-test/ws"], ids=["under a file", "in /proc"]
)
def test_init_where_no_folder_can_be_made_is_one_sentence_and_leaves_nothing(
    tmp_path: Path, place: str
) -> None:
    write(tmp_path / "notes.txt", "mine\n")
    target = tmp_path / place

    code, out, err = invoke(None, "init", str(target))

    assert (code, out) == (1, "")
    assert err.startswith(f"error: cannot create the workspace in '{target}': ")
    assert err.endswith("; choose a folder you can write to.\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_init_adds_its_entries_to_an_existing_gitignore_and_keeps_the_rest(tmp_path: Path) -> None:
    write(tmp_path / "repo" / ".gitignore", "*.pyc\n/.taskctl/\nbuild/")

    code, _, _ = invoke(None, "init", str(tmp_path / "repo"))

    assert code == 0
    assert (tmp_path / "repo" / ".gitignore").read_text() == (
        "*.pyc\n/.taskctl/\nbuild/\n\n# taskctl runtime output\n/process/\n/skus.db\n/skus.db-*\n"
    )


def test_init_prints_a_next_step_a_shell_can_run_for_a_folder_with_spaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    code, out, _ = invoke(None, "init", "my demo")

    assert code == 0
    assert out.endswith("next: cd 'my demo' && taskctl validate && taskctl upcoming && taskctl run example\n")


def test_commands_outside_a_workspace_say_how_to_make_one(tmp_path: Path) -> None:
    code, out, err = invoke(None, "validate")
    assert (code, out) == (1, "")
    assert err.startswith("error: no taskctl workspace at or above ")
    assert err.endswith("run 'taskctl init' to create one, or pass --root DIR.\n")


def test_root_may_come_from_the_environment(example: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKCTL_ROOT", str(example.root))
    code, out, _ = invoke(None, "validate")
    assert (code, out) == (0, "config OK: 3 threads, 1 process, 5 schedules\n")


def test_validate_the_example(example: Workspace) -> None:
    assert invoke(example, "validate") == (0, "config OK: 3 threads, 1 process, 5 schedules\n", "")


def test_validate_json_of_a_valid_config(example: Workspace) -> None:
    code, out, _ = invoke(example, "validate", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["ok"] is True
    assert (data["threads"], data["processes"], data["schedules"]) == (3, 1, 5)
    assert data["errors"] == []
    assert len(data["revision"]) == 12


def test_validate_reports_every_error_and_exits_1(example: Workspace) -> None:
    write(
        example.config_dir / "extra.yaml",
        "processes:\n  broken:\n    threads: [product_page]\n    overlap: never\n",
    )
    code, out, err = invoke(example, "validate")
    assert (code, out) == (1, "")
    assert err == (
        "error: config/extra.yaml:3: processes.broken.threads[0]: no thread named 'product_page' (did you mean 'product_pages'?)\n"
        "error: config/extra.yaml:4: processes.broken.overlap: 'never' is not valid (use skip, queue, allow or replace)\n"
    )


def test_validate_json_of_an_invalid_config(example: Workspace) -> None:
    write(example.config_dir / "extra.yaml", "processes:\n  broken:\n    threads: [nope]\n")
    code, out, err = invoke(example, "validate", "--json")
    assert (code, err) == (1, "")
    assert json.loads(out) == {
        "ok": False,
        "errors": [
            {
                "file": "config/extra.yaml",
                "line": 3,
                "path": "processes.broken.threads[0]",
                "message": "no thread named 'nope'; declare it under 'threads:'",
            }
        ],
        "warnings": [],
    }


def test_validate_warns_about_one_shots_in_the_past(example: Workspace) -> None:
    write(
        example.config_dir / "old.yaml",
        "threads:\n  old:\n    code: print(1)\n    schedule: ['2020-01-01 10:00']\n",
    )
    code, out, err = invoke(example, "validate")
    assert code == 0
    assert out == "config OK: 4 threads, 1 process (1 scheduled thread), 6 schedules\n"
    assert (
        err
        == "warning: config/old.yaml:4: threads.old.schedule[0]: '2020-01-01 10:00' is in the past and will not run\n"
    )


def test_any_other_command_refuses_an_invalid_config(example: Workspace) -> None:
    write(example.config_dir / "extra.yaml", "threads:\n  x:\n    timeout: later\n    code: '1'\n")
    code, _, err = invoke(example, "thread", "list")
    assert code == 1
    assert (
        err
        == "error: config/extra.yaml:3: threads.x.timeout: 'later' is not a duration (use e.g. 90s, 10m, 2h, 1d, 1h30m)\n"
    )


def test_schema_is_json_schema_for_config_files(example: Workspace) -> None:
    code, out, _ = invoke(example, "schema")
    schema = json.loads(out)
    assert code == 0
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"threads", "processes", "timezone", "defaults"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_thread_list_table_and_json(example: Workspace) -> None:
    code, out, _ = invoke(example, "thread", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "type", "runs", "schedules", "enabled", "tags", "description"]
    assert lines[2].startswith("product_pages  scraping  threads/product_pages/main.py")
    assert lines[3].startswith("seed_skus      others    threads/seed_skus/main.py")
    assert lines[4].startswith("summary        others    threads/summary/main.py")

    code, out, _ = invoke(example, "thread", "list", "--json")
    records = json.loads(out)
    assert [r["name"] for r in records] == ["product_pages", "seed_skus", "summary"]
    assert records[0]["type"] == "scraping"
    assert records[0]["input"] == {
        "skus": {
            "search": None,
            "base_sku": None,
            "min_rating": None,
            "unrated": False,
            "limit": None,
            "stale": None,
        },
        "required": False,
    }
    assert records[0]["output"] == {"file": "results.csv", "into_skus": "update"}
    assert records[0]["timeout"] == 600.0
    assert records[0]["retries"] == {"count": 1, "delay": 5.0, "backoff": 1.0}
    assert records[0]["declared_in"] == "config/threads.yaml:9"
    assert records[0]["enabled"] is True


def test_thread_show(example: Workspace) -> None:
    code, out, _ = invoke(example, "thread", "show", "summary")
    assert code == 0
    assert "declared_in:  config/threads.yaml:22\n" in out
    assert "timeout:      120.0\n" in out


def test_unknown_names_get_a_suggestion(example: Workspace) -> None:
    assert invoke(example, "thread", "show", "sumary") == (
        1,
        "",
        "error: no thread named 'sumary'; did you mean 'summary'?\n",
    )
    assert invoke(example, "process", "show", "exampel") == (
        1,
        "",
        "error: no process named 'exampel'; did you mean 'example'?\n",
    )


def test_thread_list_process_list_and_upcoming_take_tags(example: Workspace) -> None:
    write(
        example.config_dir / "processes.yaml",
        "processes:\n"
        "  example: {threads: [product_pages, summary], schedule: daily at 06:30, tags: [example]}\n"
        "  nightly: {threads: [summary], schedule: daily at 02:00, tags: [nightly]}\n",
    )

    _, threads, _ = invoke(example, "thread", "list", "--tag", "example", "--json")
    _, processes, _ = invoke(example, "process", "list", "--tag", "nightly", "--json")
    _, upcoming, _ = invoke(example, "upcoming", "--tag", "nightly", "--json")
    _, none, warning = invoke(example, "upcoming", "--tag", "nightlly")

    assert [t["name"] for t in json.loads(threads)] == ["product_pages", "seed_skus", "summary"]
    assert [p["name"] for p in json.loads(processes)] == ["nightly"]
    assert {u["process"] for u in json.loads(upcoming)["upcoming"]} == {"nightly"}
    assert none == "no upcoming runs\n"
    assert warning == "warning: no thread or process has the tag 'nightlly'; did you mean 'nightly'?\n"


def test_process_list_and_show(example: Workspace) -> None:
    code, out, _ = invoke(example, "process", "list")
    assert code == 0
    assert out.splitlines()[2].startswith(
        "example  seed_skus -> product_pages -> summary  5            Europe/Berlin  yes"
    )

    code, out, _ = invoke(example, "process", "show", "example", "--json", "--count", "3")
    record = json.loads(out)
    assert record["threads"] == ["seed_skus", "product_pages", "summary"]
    assert record["schedule"] == [
        "daily at 06:30",
        "every 6 hours",
        "monday at 09:00",
        "15 12 * * 1-5",
        "2027-01-04 09:00",
    ]
    assert (
        record["overlap"] == "skip" and record["catch_up"] == "latest" and record["misfire_grace"] == 3600.0
    )
    assert len(record["next"]) == 3
    assert record["next"][0]["at"].endswith("Z")
    assert record["next"][0]["local"][-6:] in ("+01:00", "+02:00")


def test_upcoming_json_is_sorted_and_carries_local_and_utc(example: Workspace) -> None:
    code, out, _ = invoke(example, "upcoming", "--count", "12", "--json")
    data = json.loads(out)
    assert code == 0
    items = data["upcoming"]
    assert len(items) == 12
    instants = [datetime.fromisoformat(i["at"]) for i in items]
    assert instants == sorted(instants)
    assert all(i["at"].endswith("Z") and i["timezone"] == "Europe/Berlin" for i in items)
    assert all(datetime.fromisoformat(i["local"]) == datetime.fromisoformat(i["at"]) for i in items)
    assert data["disabled"] == []


def test_upcoming_says_when_the_count_cut_the_window_short(example: Workspace) -> None:
    write(
        example.config_dir / "processes.yaml",
        "processes:\n  often:\n    threads: [summary]\n    schedule: '*/30 * * * *'\n",
    )

    code, out, err = invoke(example, "upcoming", "--until", "120d")
    json_code, json_out, _ = invoke(example, "upcoming", "--until", "120d", "--json")
    short_code, short_out, short_err = invoke(example, "upcoming", "--until", "2h", "--json")

    assert code == 0 and len(out.splitlines()) == 1002  # header, rule, 1,000 rows
    assert (
        err
        == "note: showing the first 1000 fire times; more fall within 120d (raise --count, or shorten --until)\n"
    )
    assert (json_code, json.loads(json_out)["truncated"], len(json.loads(json_out)["upcoming"])) == (
        0,
        True,
        1000,
    )
    assert (short_code, json.loads(short_out)["truncated"], short_err) == (0, False, "")


def test_upcoming_until_and_disabled_processes(example: Workspace) -> None:
    write(
        example.config_dir / "off.yaml",
        "processes:\n  paused:\n    threads: [summary]\n    schedule: ['every 1 hours']\n    enabled: false\n",
    )
    code, out, _ = invoke(example, "upcoming", "--until", "1d", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["disabled"] == ["paused"]
    assert {i["process"] for i in data["upcoming"]} == {"example"}
    assert 4 <= len(data["upcoming"]) <= 8

    code, out, _ = invoke(example, "upcoming", "paused", "--count", "2")
    assert code == 0
    assert out.splitlines()[2].startswith("paused (disabled)")


def test_upcoming_rejects_a_bad_horizon(example: Workspace) -> None:
    code, _, err = invoke(example, "upcoming", "--until", "soon")
    assert code == 2
    assert err == "error: --until: 'soon' is not a duration (use e.g. 90s, 10m, 2h, 1d, 1h30m)\n"
