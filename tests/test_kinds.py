"""Thread kinds in real runs: callables, test runs, and the scraping loop through the SKU table (input built
from the table, results imported back), with real tiny subprocesses."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from taskctl.cli.main import app
from taskctl.clock import FakeClock
from taskctl.config import load_config
from taskctl.runner import open_service
from taskctl.runner.kinds import describe_selection, read_junit
from taskctl.runner.service import RunService
from taskctl.runs import RunRecord, RunStatus, ThreadStatus, read_run_json
from taskctl.skus import SkuTable
from taskctl.store import Store
from taskctl.workspace import Workspace
from tests.conftest import write

BERLIN = ZoneInfo("Europe/Berlin")
MAY_1 = datetime(2026, 5, 1, 8, 0, tzinfo=BERLIN)
FAST = "defaults: {kill_grace: 0.3}\n"


def workspace_with(ws: Workspace, threads: str, processes: str = "") -> Workspace:
    write(ws.config_dir / "taskctl.yaml", FAST)
    write(ws.config_dir / "threads.yaml", "threads:\n" + threads)
    if processes:
        write(ws.config_dir / "processes.yaml", "processes:\n" + processes)
    return ws


def run(ws: Workspace, name: str, service: RunService | None = None) -> RunRecord:
    definition = load_config(ws).resolved(name)
    if service is not None:
        return service.run(definition)
    with open_service(ws) as opened:
        return opened.run(definition)


def console(record: RunRecord) -> str:
    return (record.folder / "console.log").read_text()


# -- func: a Python callable ------------------------------------------------------------------------------


CHECKS = """\
import asyncio, time


def check_api(url, *, timeout, retries=1, tags=()):
    print(f"checking {url} within {timeout}s")
    return {"url": url, "ok": True, "timeout": timeout, "retries": retries, "tags": list(tags)}


def boom(reason):
    helper(reason)


def helper(reason):
    raise ValueError(f"boom: {reason}")


def slow():
    print("starting", flush=True)
    time.sleep(60)


def not_json():
    return {1, 2}


async def later(value):
    await asyncio.sleep(0)
    return value * 2


class Checks:
    @staticmethod
    def count():
        return 3
"""


@pytest.fixture
def funcs(empty_workspace: Workspace) -> Workspace:
    for thread in ("health", "boom", "slow", "odd", "later", "nested"):
        write(empty_workspace.thread_dir(thread) / "monitoring" / "__init__.py", "")
        write(empty_workspace.thread_dir(thread) / "monitoring" / "checks.py", CHECKS)
    return workspace_with(
        empty_workspace,
        "  health:\n"
        "    func: 'monitoring.checks:check_api'\n"
        "    args: ['http://127.0.0.1:8000/']\n"
        "    kwargs: {timeout: 5, tags: [a, b]}\n"
        "  boom:\n"
        "    func: 'monitoring.checks:boom'\n"
        "    kwargs: {reason: disk full}\n"
        "  slow:\n"
        "    func: 'monitoring.checks:slow'\n"
        "    timeout: 1s\n"
        "  odd:\n"
        "    func: 'monitoring.checks:not_json'\n"
        "  later:\n"
        "    func: 'monitoring.checks:later'\n"
        "    args: [21]\n"
        "  nested:\n"
        "    func: 'monitoring.checks:Checks.count'\n",
    )


def test_a_callable_gets_its_args_and_its_return_value_is_recorded(funcs: Workspace) -> None:
    record = run(funcs, "health")

    assert record.status is RunStatus.SUCCEEDED
    thread = record.threads[0]
    expected = {"url": "http://127.0.0.1:8000/", "ok": True, "timeout": 5, "retries": 1, "tags": ["a", "b"]}
    assert thread.result == expected
    assert read_run_json(record.folder).threads[0].result == expected
    assert json.loads((record.folder / "health.result.json").read_text()) == expected
    assert "health | checking http://127.0.0.1:8000/ within 5s\n" in console(record)
    assert run(funcs, "later").threads[0].result == 42
    assert run(funcs, "nested").threads[0].result == 3


def test_a_callable_that_raises_fails_with_its_traceback_in_the_log(funcs: Workspace) -> None:
    record = run(funcs, "boom")

    thread = record.threads[0]
    assert (record.status, thread.status, thread.exit_code) == (RunStatus.FAILED, ThreadStatus.FAILED, 1)
    assert thread.error == "monitoring.checks:boom raised ValueError: boom: disk full"
    assert thread.result is None
    log = (record.folder / "boom.log").read_text()
    assert "boom | Traceback (most recent call last):\n" in log
    assert 'monitoring/checks.py", line 14, in helper\n' in log
    assert "boom | ValueError: boom: disk full\n" in log
    assert "<string>" not in log  # the bootstrap's own frame is left out
    assert sorted(p.name for p in record.folder.iterdir()) == ["boom.log", "console.log", "run.json"]


def test_a_callable_that_runs_too_long_times_out(funcs: Workspace) -> None:
    record = run(funcs, "slow")

    thread = record.threads[0]
    assert (record.status, thread.status, thread.signal) == (
        RunStatus.TIMED_OUT,
        ThreadStatus.TIMED_OUT,
        "SIGTERM",
    )
    assert "slow | starting\n" in console(record)


def test_a_return_value_that_is_not_json_is_not_recorded_and_says_so(funcs: Workspace) -> None:
    record = run(funcs, "odd")

    assert record.status is RunStatus.SUCCEEDED
    assert record.threads[0].result is None
    assert "monitoring.checks:not_json returned a set, which is not JSON; it is not recorded" in console(
        record
    )


def test_a_missing_module_fails_with_pythons_own_words(funcs: Workspace) -> None:
    write(funcs.config_dir / "more.yaml", "threads:\n  gone:\n    func: 'nowhere:main'\n")
    record = run(funcs, "gone")
    assert record.threads[0].error == "nowhere:main raised ModuleNotFoundError: No module named 'nowhere'"


# -- test: a pytest run in the thread's environment ---------------------------------------------------------


@pytest.mark.usefixtures("offline")
def test_a_test_thread_records_the_counts_keeps_the_junit_and_fails_on_a_failure(
    empty_workspace: Workspace,
) -> None:
    # The user's suite, as the thread runs it: one test passes, one fails and one is skipped on purpose, so that
    # each count below is told apart from the others (the skipped one would fail if pytest ran it).
    write(
        empty_workspace.thread_dir("nightly_tests") / "tests" / "test_shop.py",
        "import pytest\n\n"
        "def test_prices_add_up():\n    assert 1 + 1 == 2\n\n"
        "def test_the_kettle_is_rated():\n    assert None == 3.8\n\n"
        "@pytest.mark.skip(reason='not today')\ndef test_later():\n    assert False, 'skipped: never run'\n",
    )
    ws = workspace_with(empty_workspace, "  nightly_tests:\n    test: tests/\n    args: ['-q']\n")

    record = run(ws, "nightly_tests")

    thread = record.threads[0]
    assert (record.status, thread.status, thread.exit_code) == (RunStatus.FAILED, ThreadStatus.FAILED, 1)
    assert thread.tests is not None
    assert (thread.tests.passed, thread.tests.failed, thread.tests.skipped, thread.tests.errors) == (
        1,
        1,
        1,
        0,
    )
    assert thread.error == "1 of 3 tests failed"
    assert read_run_json(record.folder).threads[0].to_json()["tests"] == {
        "passed": 1,
        "failed": 1,
        "skipped": 1,
        "errors": 0,
        "junit": "nightly_tests.junit.xml",
    }
    assert (record.folder / "nightly_tests.junit.xml").is_file()
    log = console(record)
    assert "deps: building environment" in log  # pytest came from the thread's own environment
    assert "[taskctl: tests: 1 passed, 1 failed, 1 skipped, 0 errors]" in log
    assert "FAILED" in log and "test_the_kettle_is_rated" in log
    assert not (ws.thread_dir("nightly_tests") / ".pytest_cache").exists()
    history = CliRunner().invoke(app, ["--root", str(ws.root), "history", "--json"])
    assert json.loads(history.stdout)[0]["tests"] == {"passed": 1, "failed": 1, "skipped": 1, "errors": 0}
    shown = CliRunner().invoke(app, ["--root", str(ws.root), "show", "nightly_tests@latest"]).stdout
    assert (
        "nightly_tests: tests: 1 passed, 1 failed, 1 skipped, 0 errors (nightly_tests.junit.xml)\n" in shown
    )


@pytest.mark.usefixtures("offline")
def test_a_test_thread_that_passes_succeeds_and_reuses_its_environment(empty_workspace: Workspace) -> None:
    write(
        empty_workspace.thread_dir("unit") / "test_ok.py",
        "import tinypkg\n\ndef test_ok():\n    assert tinypkg.VERSION == '1.0'\n",
    )
    ws = workspace_with(
        empty_workspace, "  unit:\n    test: test_ok.py\n    requirements: ['tinypkg==1.0']\n"
    )

    first, second = run(ws, "unit"), run(ws, "unit")

    assert (first.status, second.status) == (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED)
    assert second.threads[0].tests is not None and second.threads[0].tests.passed == 1
    assert "deps: building environment" in console(first)
    assert "deps: building environment" not in console(second)


def test_junit_counts_are_read_from_pytests_report(tmp_path: Path) -> None:
    report = write(
        tmp_path / "t.junit.xml",
        '<?xml version="1.0"?><testsuites><testsuite name="pytest" errors="1" failures="2" skipped="1" '
        'tests="7"></testsuite></testsuites>',
    )
    counts = read_junit(report)
    assert counts is not None
    assert (counts.passed, counts.failed, counts.skipped, counts.errors, counts.junit) == (
        3,
        2,
        1,
        1,
        "t.junit.xml",
    )
    assert read_junit(write(tmp_path / "bad.xml", "<testsuites")) is None
    assert read_junit(tmp_path / "missing.xml") is None


# -- the scraping loop through the SKU table ----------------------------------------------------------------

PAGE = """<html><body><div class="rating" data-rating="{rating}"></div><a class="reviews">{reviews} ratings</a>
</body></html>"""

SCRAPER = """\
import csv, os, re, sys
from pathlib import Path

pages = Path(__file__).parent.parent / "reviews" / "pages"
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
with open("results.csv", "w", newline="", encoding="utf-8") as out:
    writer = csv.writer(out)
    writer.writerow(["sku", "title", "rating", "review_count"])
    for row in rows:
        html = (pages / (row["link"].rsplit("/", 1)[1] + ".html")).read_text()
        rating = re.search(r'data-rating="([^"]*)"', html).group(1)
        reviews = re.search(r'reviews">([^ ]*) ', html).group(1)
        writer.writerow([row["sku"], row["name"].upper(), rating, reviews])
        print(row["sku"], rating)
sys.exit(int(os.environ.get("FAIL", "0")))
"""


@pytest.fixture
def shop(empty_workspace: Workspace) -> Workspace:
    """A scraping thread reading local HTML pages for the skus of the table, writing ratings back."""
    ws = empty_workspace
    for thread in ("reviews", "all_reviews", "stale_reviews", "nothing", "needed"):
        write(ws.thread_dir(thread) / "main.py", SCRAPER)
    for page, rating, reviews in (("red", "4.5", "120"), ("blue", "4.1", "87"), ("kettle", "3.8", "1024")):
        write(
            ws.thread_dir("reviews") / "pages" / f"{page}.html", PAGE.format(rating=rating, reviews=reviews)
        )
    with SkuTable.open(ws.sku_db, clock=FakeClock(MAY_1)) as table:
        table.add("B07-RED-M", "Shirt red M", "B07", "https://shop.example/red")
        table.add("B07-BLU-L", "Shirt blue L", "B07", "https://shop.example/blue")
        table.add("K12-BLK", "Kettle black", "K12", "https://shop.example/kettle", rating=3.0)
    return workspace_with(
        ws,
        "  reviews:\n"
        "    type: scraping\n"
        "    input: {skus: {base_sku: B07}}\n"
        "    output: {file: results.csv, into_skus: update}\n"
        "  all_reviews:\n"
        "    type: scraping\n"
        ""
        "    input: {skus: {}}\n"
        "    output: {file: results.csv}\n",
    )


def ratings(ws: Workspace) -> dict[str, tuple[float | None, int | None, str]]:
    with SkuTable.open(ws.sku_db) as table:
        return {s.sku: (s.rating, s.review_count, s.name) for s in table.iter_all()}


BEFORE = {
    "B07-BLU-L": (None, None, "Shirt blue L"),
    "B07-RED-M": (None, None, "Shirt red M"),
    "K12-BLK": (3.0, None, "Kettle black"),
}


def test_the_input_comes_from_the_table_and_the_ratings_go_back_after_success(shop: Workspace) -> None:
    record = run(shop, "reviews")

    assert record.status is RunStatus.SUCCEEDED
    assert (record.folder / "reviews.input.csv").read_text() == (
        "sku,name,base_sku,link,rating,review_count\n"
        "B07-BLU-L,Shirt blue L,B07,https://shop.example/blue,,\n"
        "B07-RED-M,Shirt red M,B07,https://shop.example/red,,\n"
    )
    assert ratings(shop) == {
        "B07-BLU-L": (4.1, 87, "Shirt blue L"),
        "B07-RED-M": (4.5, 120, "Shirt red M"),
        "K12-BLK": (3.0, None, "Kettle black"),
    }
    thread = record.threads[0]
    assert thread.input_skus == 2
    assert thread.skus_import is not None
    assert thread.skus_import.to_json() == {
        "file": "results.csv",
        "into_skus": "update",
        "rows": 2,
        "new": 0,
        "updated": 2,
        "unchanged": 0,
        "skipped": 0,
        "summary": "imported 2 rows: 2 updated",
        "ignored_columns": ["title"],
        "rejected": [],
    }
    log = (record.folder / "reviews.log").read_text()
    assert "[taskctl: input: 2 rows of the SKU table (base_sku B07) in reviews.input.csv]" in log
    assert log.count("ignored the columns that are not SKU columns: title") == 1
    assert "[taskctl: results.csv into the SKU table: imported 2 rows: 2 updated]" in log


def test_a_failed_run_changes_no_rating(shop: Workspace) -> None:
    write(shop.config_dir / "taskctl.yaml", FAST)
    threads = (shop.config_dir / "threads.yaml").read_text()
    write(
        shop.config_dir / "threads.yaml",
        threads.replace("    type: scraping\n", "    type: scraping\n    env: {FAIL: '2'}\n", 1),
    )

    record = run(shop, "reviews")

    assert (record.status, record.threads[0].exit_code) == (RunStatus.FAILED, 2)
    assert (record.folder / "results.csv").is_file()  # written, but the thread failed
    assert ratings(shop) == BEFORE
    assert record.threads[0].skus_import is None
    assert "[taskctl: results.csv not imported into the SKU table: the thread failed]" in console(record)


def test_one_bad_results_line_changes_nothing_and_fails_the_thread_naming_it(shop: Workspace) -> None:
    write(shop.thread_dir("reviews") / "pages" / "blue.html", PAGE.format(rating="4,1", reviews="87"))

    record = run(shop, "reviews")

    thread = record.threads[0]
    assert (record.status, thread.status, thread.exit_code) == (RunStatus.FAILED, ThreadStatus.FAILED, 0)
    assert thread.error == (
        "results.csv not imported into the SKU table: results.csv:2: rating '4,1' is not a number (use 0-5, "
        "like 4.5, or leave it empty)"
    )
    assert ratings(shop) == BEFORE
    assert thread.skus_import is not None and thread.skus_import.rejected == [
        "results.csv:2: rating '4,1' is not a number (use 0-5, like 4.5, or leave it empty)",
        "results.csv: 1 error; nothing was imported.",
    ]
    assert "reviews | [taskctl: results.csv:2: rating '4,1' is not a number" in console(record)


def test_a_results_file_that_was_not_written_fails_the_thread(shop: Workspace) -> None:
    write(
        shop.config_dir / "more.yaml",
        "threads:\n  quiet:\n    code: print('no file')\n    output: {file: out/results.csv}\n",
    )

    record = run(shop, "quiet")

    assert (record.status, record.threads[0].error) == (
        RunStatus.FAILED,
        "out/results.csv not imported into the SKU table: out/results.csv was not written (no such file in the "
        "run folder).",
    )
    assert ratings(shop) == BEFORE


def test_stale_selects_by_updated_at_on_the_runs_clock(shop: Workspace) -> None:
    june_1 = datetime(2026, 6, 1, 9, 0, tzinfo=BERLIN)
    with SkuTable.open(shop.sku_db, clock=FakeClock(june_1)) as table:
        table.update("B07-RED-M", rating=1.0)  # the others were last updated on 1 May
    write(
        shop.config_dir / "stale.yaml",
        "threads:\n  stale_reviews:\n    type: scraping\n    input: {skus: {stale: 3d}}\n",
    )

    def run_at(moment: datetime) -> RunRecord:
        with Store(shop.state_db) as store:
            return run(shop, "stale_reviews", RunService(shop, store, FakeClock(moment)))

    record = run_at(june_1 + timedelta(days=2, hours=23))
    assert record.threads[0].input_skus == 2
    assert (record.folder / "stale_reviews.input.csv").read_text().splitlines()[1:] == [
        "B07-BLU-L,Shirt blue L,B07,https://shop.example/blue,,",
        "K12-BLK,Kettle black,K12,https://shop.example/kettle,3.0,",
    ]
    record = run_at(june_1 + timedelta(days=3))  # now the update of 1 June is three days old too
    assert record.threads[0].input_skus == 3
    assert (record.folder / "stale_reviews.input.csv").read_text().splitlines()[3].startswith("B07-RED-M,")


def test_an_empty_selection_succeeds_without_running_unless_required(shop: Workspace) -> None:
    write(
        shop.config_dir / "more.yaml",
        "threads:\n"
        "  nothing:\n    type: scraping\n    input: {skus: {base_sku: X99}}\n"
        "    output: {file: results.csv}\n"
        "  needed:\n    type: scraping\n"
        "    input: {skus: {base_sku: X99}, required: true}\n",
    )

    record = run(shop, "nothing")
    thread = record.threads[0]
    assert (record.status, thread.status, thread.attempts, thread.exit_code) == (
        RunStatus.SUCCEEDED,
        ThreadStatus.SUCCEEDED,
        0,
        None,
    )
    assert (
        thread.note
        == "no row of the SKU table matches its input (base_sku X99); nothing to do, so it did not run"
    )
    assert (record.folder / "nothing.input.csv").read_text() == "sku,name,base_sku,link,rating,review_count\n"
    assert not (record.folder / "results.csv").exists()

    record = run(shop, "needed")
    assert (record.status, record.threads[0].error) == (
        RunStatus.FAILED,
        "no row of the SKU table matches its input (base_sku X99), and input.required is true",
    )


def test_a_selection_is_described_in_words() -> None:
    from taskctl.config.models import SkuSelection

    assert describe_selection(SkuSelection()) == "all rows"
    assert (
        describe_selection(
            SkuSelection(search="shirt", base_sku="B07", min_rating=4, stale=7 * 86400, limit=100)
        )
        == "search 'shirt', base_sku B07, min_rating 4, stale 7d0h, limit 100"
    )
