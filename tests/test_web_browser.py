"""The web pages in a real headless Chromium, clicked through as a user would, against `taskctl serve` running
as a real process on a copy of the example workspace.

Chromium is Debian's (`apt-get install -y chromium`; `.ci/run` installs it), driven by Playwright with
`executable_path`: Playwright's own browser download is never used. A screenshot of each main page is kept
in tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskctl.skus import SkuTable
from taskctl.workspace import Workspace, create_workspace
from tests.web_helpers import cli

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install -e '.[dev]' brings it)"
)
pytest.importorskip("starlette", reason="the web extra (taskctl[web]) is not installed")

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = next(
    (path for path in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium") if path
     and Path(path).exists()),
    None,
)  # fmt: skip
# As root, Chromium needs --no-sandbox; the rest keep it from calling out to the network at start.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT = 60_000  # milliseconds: generous, the machine may be busy

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium: install Debian's chromium package (apt-get install -y chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return create_workspace(tmp_path_factory.mktemp("browser") / "ws")


@pytest.fixture(scope="module")
def server(workspace: Workspace) -> Iterator[str]:
    """`taskctl serve` on a free port; its base URL."""
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "taskctl", "--root", str(workspace.root), "serve", "--port", "0"],
        # The zone of the tests (conftest): zip entries keep local time, so `pack` here must use the same.
        env={**os.environ, "PYTHONPATH": str(REPO), "TZ": "Europe/Berlin"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        end = time.monotonic() + 60
        while not (
            found := re.search(r"on (http://127\.0\.0\.1:\d+)/", (ARTIFACTS / "serve.log").read_text())
        ):
            assert process.poll() is None, (ARTIFACTS / "serve.log").read_text()
            assert time.monotonic() < end, "the server did not start"
            time.sleep(0.1)
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(
        base_url=server, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(WAIT)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []  # no script error on any page


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_the_dashboard_opens_and_says_nothing_is_scheduling(page: Any) -> None:
    page.goto("/")
    sync_api.expect(page.locator("h1")).to_have_text("Dashboard")
    sync_api.expect(page.locator("#daemon-state")).to_contain_text("not running: nothing is scheduling")
    sync_api.expect(page.locator("section", has_text="Next")).to_contain_text("example")
    shot(page, "dashboard")


def test_the_dashboard_shows_a_run_that_starts_while_it_is_open(
    page: Any, server: str, workspace: Workspace
) -> None:
    import json
    import urllib.request

    (workspace.config_dir / "slow.yaml").write_text(
        "threads:\n  slow:\n    code: |\n      import time\n      for _ in range(120):\n"
        "          print('::progress 1/4', flush=True)\n          time.sleep(0.5)\n"
    )
    page.goto("/")
    sync_api.expect(page.locator("#running")).to_contain_text("nothing runs")

    def post(path: str) -> Any:
        request = urllib.request.Request(server + path, method="POST", headers={"X-Requested-With": "test"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.load(answer)

    started = post("/api/v1/threads/slow/run")
    try:
        running = page.locator("#running")
        sync_api.expect(running).to_contain_text(started["id"])  # no reload: the page refreshes itself
        sync_api.expect(running).to_contain_text("1/4 (25%)")
        sync_api.expect(running.locator("progress")).to_have_attribute("value", "25")
        shot(page, "dashboard-running")
    finally:
        post(f"/api/v1/runs/{started['id']}/cancel")
        (workspace.config_dir / "slow.yaml").unlink()


def test_start_a_run_watch_it_finish_and_download_what_pack_writes(
    page: Any, workspace: Workspace, tmp_path: Path
) -> None:
    page.goto("/processes/example")
    shot(page, "process")
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(re.compile(r"/runs/example/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d"))
    sync_api.expect(page.locator("#run-status")).to_have_text("succeeded", timeout=WAIT)
    sync_api.expect(page.locator("#console")).to_contain_text("summary | best rated: Shirt red M (4.5)")
    sync_api.expect(page.locator("#threads")).to_contain_text("exit 0")
    shot(page, "run")
    run_id = page.url.split("/runs/", 1)[1]
    with page.expect_download() as waiting:
        page.get_by_role("link", name="Download (zip)").click()
    download = waiting.value
    assert download.suggested_filename == run_id.replace("/", "_") + ".zip"
    downloaded = tmp_path / "downloaded.zip"
    download.save_as(downloaded)
    packed = tmp_path / "packed.zip"
    assert cli(workspace, "pack", run_id, "-o", str(packed))[0] == 0
    assert downloaded.read_bytes() == packed.read_bytes()
    page.goto("/runs")
    sync_api.expect(page.locator("table.runs")).to_contain_text(run_id)
    shot(page, "runs")


def test_a_sku_csv_with_a_bad_line_shows_its_line_number(
    page: Any, workspace: Workspace, tmp_path: Path
) -> None:
    with SkuTable.open(workspace.sku_db) as table:
        before = [sku.as_dict() for sku in table.iter_all()]
    csv = tmp_path / "products.csv"
    csv.write_text(
        "sku,name,base_sku,link,rating,review_count\nZ-1,Zucchini,Z,,4.0,3\nZ-2,Zest,Z,,eleven,2\n"
    )
    page.goto("/skus")
    shot(page, "skus")
    page.get_by_role("link", name="Import CSV").click()
    page.set_input_files("input[name=file]", str(csv))
    page.get_by_role("button", name="Import").click()
    errors = page.locator("#import-errors")
    sync_api.expect(errors).to_contain_text("products.csv:3:")
    sync_api.expect(errors).to_contain_text("nothing was imported")
    shot(page, "sku-import")
    with SkuTable.open(workspace.sku_db) as table:
        assert [sku.as_dict() for sku in table.iter_all()] == before


def test_editing_a_schedule_keeps_the_yaml_comments(page: Any, workspace: Workspace) -> None:
    path = workspace.config_dir / "processes.yaml"
    before = path.read_text()
    page.goto("/processes/example/edit")
    schedules = page.locator("textarea[name=schedule]")
    schedules.fill(schedules.input_value() + "\nsunday at 20:00")
    shot(page, "process-edit")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/processes/example$"))
    sync_api.expect(page.locator("dl.fields")).to_contain_text("sunday at 20:00")
    after = path.read_text()
    assert after == before.replace(
        "      - 2027-01-04 09:00\n", "      - 2027-01-04 09:00\n      - sunday at 20:00\n"
    )
    assert "# Processes chain threads in series and say when they run.\n" in after


def test_a_refused_edit_shows_the_error_and_changes_nothing(page: Any, workspace: Workspace) -> None:
    path = workspace.config_dir / "processes.yaml"
    before = path.read_text()
    page.goto("/processes/example/edit")
    schedules = page.locator("textarea[name=schedule]")
    schedules.fill(schedules.input_value() + "\ndayly at 10:30")
    page.get_by_role("button", name="Save", exact=True).click()
    sync_api.expect(page.locator(".errors")).to_contain_text(
        "'dayly at 10:30' is not a schedule (try 'daily at 10:30')"
    )
    assert path.read_text() == before


def test_the_other_main_pages(page: Any) -> None:
    for path, name, heading in (
        ("/processes", "processes", "Processes"),
        ("/threads", "threads", "Threads"),
        ("/threads/product_pages", "thread", "Thread product_pages"),
        ("/api/v1/docs", "api", "HTTP API"),
    ):
        page.goto(path)
        sync_api.expect(page.locator("h1")).to_contain_text(heading)
        shot(page, name)
