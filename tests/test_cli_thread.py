"""`taskctl thread add|edit|rm` as a user runs them: the YAML they keep, the files copied, the messages."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ruamel.yaml import YAML
from typer.testing import CliRunner

from taskctl.cli.main import app
from taskctl.config import load_config
from taskctl.config.yamlfile import parse_yaml
from taskctl.workspace import Workspace
from tests.conftest import write

GOLDEN = Path(__file__).parent / "golden"
runner = CliRunner()


def invoke(ws: Workspace, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--root", str(ws.root), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def odd(empty_workspace: Workspace) -> Workspace:
    """A workspace whose config/threads.yaml is hand-written with comments and odd formatting."""
    (empty_workspace.config_dir / "threads.yaml").write_bytes((GOLDEN / "threads.odd.yaml").read_bytes())
    write(empty_workspace.thread_dir("amazon_reviews") / "scrape.py", "print('scraping')\n")
    write(empty_workspace.thread_dir("amazon_reviews") / "links.csv", "url\n")
    return empty_workspace


def threads_yaml(ws: Workspace) -> str:
    return (ws.config_dir / "threads.yaml").read_text(encoding="utf-8")


def lines_outside(text: str, first: str, after: str) -> list[str]:
    """The lines of `text` before the line `first` and from the line `after` on."""
    lines = text.splitlines()
    return lines[: lines.index(first)] + lines[lines.index(after) :]


# -- golden files: every byte outside the entry stays ------------------------------------------------


def test_add_keeps_every_byte_of_a_hand_written_file(odd: Workspace, tmp_path: Path) -> None:
    script = write(tmp_path / "cleanup.py", "print('clean')\n")
    code, out, err = invoke(
        odd, "thread", "add", "cleanup", "--script", str(script), "--tag", "no", "--timeout", "10m",
        "--description", "Nightly: clean # tmp",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out == (
        f"added thread 'cleanup' to config/threads.yaml\ncopied {script} -> threads/cleanup/cleanup.py\n"
    )
    assert threads_yaml(odd) == (GOLDEN / "threads.odd.after-add.yaml").read_text(encoding="utf-8")
    assert threads_yaml(odd).startswith(
        (GOLDEN / "threads.odd.yaml").read_text(encoding="utf-8").rsplit("#", 1)[0]
    )
    assert (odd.thread_dir("cleanup") / "cleanup.py").read_text() == "print('clean')\n"


def test_edit_changes_only_the_entry(odd: Workspace) -> None:
    code, out, err = invoke(
        odd, "thread", "edit", "amazon_reviews", "--set", "timeout=45m", "--add-tag", "daily",
        "--add-schedule", "monday at 09:00", "--remove-schedule", "30 2 * * *", "--set", "retries.count=3",
    )  # fmt: skip
    assert (code, out, err) == (0, "changed thread 'amazon_reviews' in config/threads.yaml\n", "")
    after = threads_yaml(odd)
    assert after == (GOLDEN / "threads.odd.after-edit.yaml").read_text(encoding="utf-8")
    before = (GOLDEN / "threads.odd.yaml").read_text(encoding="utf-8")
    assert lines_outside(after, "    amazon_reviews:", "    'backup':") == lines_outside(
        before, "    amazon_reviews:", "    'backup':"
    )


def test_rm_removes_only_the_entry_and_its_folder(odd: Workspace) -> None:
    write(odd.thread_dir("backup") / "notes.txt", "mine\n")
    code, out, err = invoke(odd, "thread", "rm", "backup")
    assert (code, out, err) == (
        0,
        "removed thread 'backup' from config/threads.yaml\nremoved threads/backup/\n",
        "",
    )
    assert threads_yaml(odd) == (GOLDEN / "threads.odd.after-rm.yaml").read_text(encoding="utf-8")
    assert not odd.thread_dir("backup").exists()


def test_dry_run_prints_the_diff_and_changes_nothing(odd: Workspace) -> None:
    code, out, err = invoke(odd, "thread", "edit", "amazon_reviews", "--set", "timeout=45m", "--dry-run")
    assert (code, err) == (0, "")
    assert out == (
        "--- a/config/threads.yaml\n"
        "+++ b/config/threads.yaml\n"
        "@@ -15,6 +15,7 @@\n"
        "         env: &region\n"
        '             REGION: "eu"          # ünïcödé comment\n'
        "         # timeout: 1h   (commented out: part of the entry)\n"
        "+        timeout: 45m\n"
        " \n"
        "     'backup':\n"
        '         command: ["tar", "-czf", "backup.tgz", "../data"]\n'
    )
    assert threads_yaml(odd) == (GOLDEN / "threads.odd.yaml").read_text(encoding="utf-8")


def test_json_reports_the_change(odd: Workspace, tmp_path: Path) -> None:
    script = write(tmp_path / "job.py", "print(1)\n")
    code, out, _ = invoke(odd, "thread", "add", "job", "--script", str(script), "--as", "main.py", "--json")
    assert code == 0
    result = json.loads(out)
    assert {k: v for k, v in result.items() if k != "diff"} == {
        "ok": True,
        "action": "add",
        "kind": "thread",
        "name": "job",
        "file": "config/threads.yaml",
        "dry_run": False,
        "changed": True,
        "files": ["config/threads.yaml"],
        "entry": {"script": "main.py"},
        "copied": [{"from": str(script), "to": "threads/job/main.py"}],
        "removed": [],
        "notes": [],
        "warnings": [],
    }
    assert "+\n+    job:\n+        script: main.py\n # --- end of threads ---" in result["diff"]


# -- nothing is written when the result would be invalid ------------------------------------------


def test_an_invalid_edit_leaves_the_file_and_folder_untouched(odd: Workspace, tmp_path: Path) -> None:
    before = (odd.config_dir / "threads.yaml").read_bytes()
    code, out, err = invoke(odd, "thread", "edit", "amazon_reviews", "--set", "timeout=soon")
    assert (code, out) == (1, "")
    assert err == (
        "error: nothing was written; the config would not be valid after this change:\n"
        "error: config/threads.yaml:18: threads.amazon_reviews.timeout: 'soon' is not a duration "
        "(use e.g. 90s, 10m, 2h, 1d, 1h30m)\n"
    )
    script = write(tmp_path / "x.py", "print(1)\n")
    code, _, err = invoke(odd, "thread", "add", "x", "--script", str(script), "--retries", "1000")
    assert code == 1
    assert "threads.x.retries.count: 1000 is out of range (must be at most 100)" in err
    assert (odd.config_dir / "threads.yaml").read_bytes() == before
    assert not odd.thread_dir("x").exists()


def test_json_lists_every_problem_of_a_refused_change(odd: Workspace) -> None:
    code, out, _ = invoke(odd, "thread", "edit", "amazon_reviews", "--set", "timout=1m", "--json")
    assert code == 1
    assert json.loads(out) == {
        "ok": False,
        "errors": [
            {
                "file": "config/threads.yaml",
                "line": 18,
                "path": "threads.amazon_reviews",
                "message": "unknown key 'timout' (did you mean 'timeout'?)",
            }
        ],
    }


def test_a_scraping_thread_without_an_input_csv_is_refused(
    empty_workspace: Workspace, tmp_path: Path
) -> None:
    script = write(tmp_path / "scrape.py", "print(1)\n")
    code, out, err = invoke(
        empty_workspace, "thread", "add", "reviews", "--type", "scraping", "--script", str(script)
    )
    assert (code, out) == (2, "")
    assert err == "error: a scraping thread needs --input, the CSV of links it works from (thread reviews)\n"
    assert list(empty_workspace.config_dir.iterdir()) == []
    assert not empty_workspace.thread_dir("reviews").exists()


def test_a_thread_needs_something_to_run(empty_workspace: Workspace) -> None:
    code, _, err = invoke(empty_workspace, "thread", "add", "idle")
    assert code == 2
    assert err == (
        "error: thread idle needs something to run: --script FILE, --command TEXT, --code TEXT, "
        "--func MODULE:CALLABLE or --test PATH (or a threads/idle/main.py)\n"
    )


def test_add_declares_a_callable_or_a_test_thread_and_edit_sets_its_sku_input(
    empty_workspace: Workspace,
) -> None:
    ws = empty_workspace
    write(ws.thread_dir("checks") / "tests" / "test_a.py", "def test_a():\n    pass\n")
    code, _, err = invoke(
        ws, "thread", "add", "health", "--func", "monitoring.checks:check_api", "--timeout", "1m"
    )
    assert (code, err) == (0, "")
    code, _, err = invoke(ws, "thread", "add", "checks", "--test", "tests/")
    assert (code, err) == (0, "")
    code, _, err = invoke(ws, "thread", "add", "both", "--func", "a:b", "--test", "tests/")
    assert (code, err) == (
        2,
        "error: a thread runs one of --script, --command, --code, --func or --test, not --func and --test\n",
    )
    code, _, err = invoke(
        ws, "thread", "edit", "health", "--set", "kwargs={url: 'http://127.0.0.1/', timeout: 5}",
        "--set", "input.skus={base_sku: B07, stale: 7d}", "--set", "output={file: results.csv}",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert (ws.config_dir / "threads.yaml").read_text() == (
        "threads:\n"
        "  health:\n"
        "    func: monitoring.checks:check_api\n"
        "    timeout: 1m\n"
        "    kwargs:\n"
        "      url: http://127.0.0.1/\n"
        "      timeout: 5\n"
        "    input:\n"
        "      skus: {base_sku: B07, stale: 7d}\n"
        "    output: {file: results.csv}\n"
        "  checks:\n"
        "    test: tests/\n"
    )
    config = load_config(ws)
    health = config.threads["health"]
    assert (health.kind, health.kwargs, health.sku_input and health.sku_input.skus.stale) == (
        "func",
        {"url": "http://127.0.0.1/", "timeout": 5},
        7 * 86400.0,
    )
    assert config.threads["checks"].kind == "test"
    code, out, _ = invoke(ws, "thread", "list")
    assert "monitoring.checks:check_api()" in out and "pytest threads/checks/tests/" in out


# -- names and paths --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil", "a/b", "Amazon", ".hidden", "_x", "a b"])
def test_names_that_are_not_folder_names_are_refused_before_anything_is_written(
    empty_workspace: Workspace, tmp_path: Path, name: str
) -> None:
    script = write(tmp_path / "s.py", "print(1)\n")
    code, out, err = invoke(empty_workspace, "thread", "add", name, "--script", str(script))
    assert (code, out) == (2, "")
    assert err.startswith(
        f"error: thread '{name}' is not a valid name: use lower-case letters, digits, '_' and '-'"
    )
    assert list(empty_workspace.config_dir.iterdir()) == []
    assert list(empty_workspace.threads_dir.iterdir()) == []


@pytest.mark.parametrize("as_name", ["../../evil.py", "/etc/passwd", "sub/x.py", "..", "."])
def test_as_must_be_a_plain_file_name(empty_workspace: Workspace, tmp_path: Path, as_name: str) -> None:
    script = write(tmp_path / "s.py", "print(1)\n")
    code, _, err = invoke(empty_workspace, "thread", "add", "t", "--script", str(script), "--as", as_name)
    assert code == 2
    assert err == f"error: --as '{as_name}' must be a plain file name (no folders, no '..')\n"
    assert list(empty_workspace.threads_dir.iterdir()) == []
    assert not (tmp_path / "evil.py").exists()


@pytest.mark.parametrize(
    "file", ["../outside.yaml", "/tmp/x.yaml", "notes.txt", "a/b/c.yaml", ".hidden.yaml"]
)
def test_file_must_be_a_yaml_file_under_config(empty_workspace: Workspace, file: str) -> None:
    code, _, err = invoke(empty_workspace, "thread", "add", "t", "--code", "print(1)", "--file", file)
    assert code == 2
    assert (
        err
        == f"error: --file '{file}' must be a .yaml file in config/ or in a folder in it (e.g. config/team.yaml)\n"
    )


def test_file_places_a_new_thread_in_another_file(empty_workspace: Workspace) -> None:
    code, out, _ = invoke(
        empty_workspace, "thread", "add", "t", "--code", "print(1)", "--file", "team/jobs.yaml"
    )
    assert (code, out) == (0, "added thread 't' to config/team/jobs.yaml\n")
    assert (
        empty_workspace.config_dir / "team/jobs.yaml"
    ).read_text() == "threads:\n  t:\n    code: print(1)\n"


def test_a_name_that_exists_is_refused(example: Workspace) -> None:
    code, _, err = invoke(example, "thread", "add", "summary", "--code", "print(1)")
    assert code == 1
    assert err == (
        "error: thread 'summary' already exists (config/threads.yaml:22); change it with 'taskctl thread edit "
        "summary'\n"
    )


# -- thread files -----------------------------------------------------------------------------------


def test_add_copies_the_script_and_the_input_csv(empty_workspace: Workspace, tmp_path: Path) -> None:
    script = write(tmp_path / "scrape.py", "print('s')\n")
    links = write(tmp_path / "links.csv", "url\nhttps://example.com\n")
    code, _, _ = invoke(
        empty_workspace, "thread", "add", "reviews", "--type", "scraping", "--script", str(script),
        "--input", str(links), "--input-as", "input.csv", "--timeout", "30m",
    )  # fmt: skip
    assert code == 0
    assert (empty_workspace.config_dir / "threads.yaml").read_text() == (
        "threads:\n  reviews:\n    type: scraping\n    script: scrape.py\n    input: input.csv\n    timeout: 30m\n"
    )
    assert (empty_workspace.thread_dir("reviews") / "input.csv").read_text() == "url\nhttps://example.com\n"
    assert load_config(empty_workspace).threads["reviews"].input == "input.csv"


def test_edit_replaces_the_input_and_keeps_the_old_file(odd: Workspace, tmp_path: Path) -> None:
    links = write(tmp_path / "new_links.csv", "url\nhttps://example.org\n")
    code, out, _ = invoke(odd, "thread", "edit", "amazon_reviews", "--input", str(links))
    assert code == 0
    assert out == (
        "changed thread 'amazon_reviews' in config/threads.yaml\n"
        f"copied {links} -> threads/amazon_reviews/new_links.csv\n"
        "kept threads/amazon_reviews/links.csv, which the thread no longer uses\n"
    )
    assert "        input: new_links.csv\n" in threads_yaml(odd)
    assert (odd.thread_dir("amazon_reviews") / "links.csv").exists()


def test_edit_of_a_script_with_the_same_name_replaces_its_content(odd: Workspace, tmp_path: Path) -> None:
    new = write(tmp_path / "scrape.py", "print('v2')\n")
    before = threads_yaml(odd)
    code, _, _ = invoke(odd, "thread", "edit", "amazon_reviews", "--script", str(new))
    assert code == 0
    assert (odd.thread_dir("amazon_reviews") / "scrape.py").read_text() == "print('v2')\n"
    assert threads_yaml(odd) == before
    assert sorted(p.name for p in odd.thread_dir("amazon_reviews").iterdir()) == ["links.csv", "scrape.py"]


def test_rm_is_refused_while_a_process_runs_the_thread(example: Workspace) -> None:
    code, _, err = invoke(example, "thread", "rm", "summary")
    assert code == 1
    assert err == (
        "error: thread summary is used by process example (config/processes.yaml:3); take it out of that process "
        "first, or use --force to take it out of every process\n"
    )
    code, out, _ = invoke(example, "thread", "rm", "summary", "--force", "--keep-files")
    assert code == 0
    assert out == (
        "removed thread 'summary' from config/threads.yaml\ntook 'summary' out of process 'example'\n"
    )
    assert load_config(example).processes["example"].threads == ["seed_skus", "product_pages"]
    assert (example.thread_dir("summary") / "main.py").exists()


# -- enabled: false -----------------------------------------------------------------------------------


def test_a_disabled_thread_is_listed_as_such_and_its_schedule_skipped(empty_workspace: Workspace) -> None:
    invoke(empty_workspace, "thread", "add", "tick", "--code", "print(1)", "--schedule", "every 1 hours")
    code, out, _ = invoke(empty_workspace, "thread", "edit", "tick", "--disable")
    assert (code, out) == (0, "changed thread 'tick' in config/threads.yaml\n")
    assert (empty_workspace.config_dir / "threads.yaml").read_text() == (
        "threads:\n  tick:\n    code: print(1)\n    schedule:\n      - every 1 hours\n    enabled: false\n"
    )
    records = json.loads(invoke(empty_workspace, "thread", "list", "--json")[1])
    assert [(r["name"], r["enabled"]) for r in records] == [("tick", False)]
    assert invoke(empty_workspace, "upcoming")[1] == "no upcoming runs\ndisabled (not scheduled): tick\n"
    invoke(empty_workspace, "thread", "edit", "tick", "--enable")
    assert "enabled" not in (empty_workspace.config_dir / "threads.yaml").read_text()


# -- one meaning for every value ----------------------------------------------------------------------

TRICKY = ["10:30", "on", "no", "0777", "1e3", "2026-12-24 18:00", "a # b", "a: b", "yes", "~", "", "-x"]


def read_three_ways(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    return [parse_yaml(text).data, yaml.safe_load(text), YAML(typ="safe", pure=True).load(io.StringIO(text))]


def test_what_the_cli_writes_reads_back_exactly_in_every_yaml_library(empty_workspace: Workspace) -> None:
    args = ["thread", "add", "t", "--code", "print(1)"]
    for value in TRICKY:
        args += ["--arg", value, "--tag", value or "empty"]
    args += [
        "--env",
        "AT=10:30",
        "--env",
        "ON=on",
        "--env",
        "MODE=0777",
        "--description",
        "Fetch: pages # daily",
    ]
    code, _, err = invoke(empty_workspace, *args)
    assert (code, err) == (0, "")
    expected = {
        "code": "print(1)",
        "args": TRICKY,
        "env": {"AT": "10:30", "ON": "on", "MODE": "0777"},
        "tags": [v or "empty" for v in TRICKY],
        "description": "Fetch: pages # daily",
    }
    for reading in read_three_ways(empty_workspace.config_dir / "threads.yaml"):
        assert reading == {"threads": {"t": expected}}
    assert load_config(empty_workspace).warnings == []


@pytest.mark.parametrize("value", [*(v for v in TRICKY if v), "it's"])
def test_set_takes_text_keys_literally(empty_workspace: Workspace, value: str) -> None:
    invoke(empty_workspace, "thread", "add", "t", "--code", "print(1)")
    code, _, err = invoke(empty_workspace, "thread", "edit", "t", "--set", f"description={value}")
    assert (code, err) == (0, "")
    for reading in read_three_ways(empty_workspace.config_dir / "threads.yaml"):
        assert reading["threads"]["t"]["description"] == value


def test_set_reads_other_values_as_yaml_with_the_config_rules(empty_workspace: Workspace) -> None:
    invoke(empty_workspace, "thread", "add", "t", "--code", "print(1)")
    code, _, _ = invoke(
        empty_workspace, "thread", "edit", "t", "--set", "retries={count: 2, delay: 30s}", "--set", "args=[a, '1']",
        "--set", "env.HOUR=10:30",
    )  # fmt: skip
    assert code == 0
    thread = load_config(empty_workspace).threads["t"]
    assert (thread.retries.count, thread.retries.delay, thread.args, thread.env) == (
        2,
        30.0,
        ["a", "1"],
        {"HOUR": "10:30"},
    )
    code, _, err = invoke(empty_workspace, "thread", "edit", "t", "--set", "retries.count=0777")
    assert code == 2
    assert err == (
        "error: --set retries.count=0777: 0777 means the number 777 in YAML 1.2 but the number 511 in YAML 1.1; "
        'write 777 for the number or "0777" for the text\n'
    )
