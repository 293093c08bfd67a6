"""Runs through the HTTP API and the pages (taskctl/web/runs.py): history, a run, its log live, its files,
Download (the bytes `taskctl pack` writes) and Cancel."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web extra (taskctl[web]) is not installed")

from starlette.testclient import TestClient

from taskctl.runs import RunRecord
from taskctl.workspace import Workspace
from tests.web_helpers import cli, cli_json, run_now, wait_until

POST = {"X-Requested-With": "test"}


@pytest.fixture
def greeted(web_ws: Workspace) -> RunRecord:
    return run_now(web_ws, "greet")


@pytest.fixture
def failed(web_ws: Workspace) -> RunRecord:
    return run_now(web_ws, "both")


# -- history ---------------------------------------------------------------------------------------------


def test_history_is_the_document_of_the_cli(
    web_ws: Workspace, web: TestClient, greeted: RunRecord, failed: RunRecord
) -> None:
    assert web.get("/api/v1/runs").json() == cli_json(web_ws, "history")
    only = web.get("/api/v1/runs", params={"process": "both", "status": "failed"}).json()
    assert [run["id"] for run in only] == [failed.id]
    assert only == cli_json(web_ws, "history", "both", "--status", "failed")
    assert [r["id"] for r in web.get("/api/v1/runs", params={"limit": 1}).json()] == [failed.id]
    assert len(web.get("/api/v1/runs", params={"since": "1h"}).json()) == 2


def test_history_by_tag_takes_processes_and_threads_with_it(
    web_ws: Workspace, web: TestClient, greeted: RunRecord, failed: RunRecord
) -> None:
    alone = run_now(web_ws, "hello")  # the thread `hello` has the tag greeting, run alone
    daily = web.get("/api/v1/runs", params={"tag": "daily"}).json()
    assert [r["id"] for r in daily] == [greeted.id]
    assert [r["id"] for r in web.get("/api/v1/runs", params={"tag": "greeting"}).json()] == [alone.id]
    unknown = web.get("/api/v1/runs", params={"tag": "dayly"})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "no process or thread has the tag 'dayly'; did you mean 'daily'?"


def test_history_refuses_bad_filters_with_one_sentence(web: TestClient, greeted: RunRecord) -> None:
    cases = {
        ("status", "faild"): (400, "status 'faild' is not a run status; did you mean 'failed'?"),
        ("since", "soon"): (400, "since 'soon' is not a duration (use e.g. 12h, 7d, 2w)."),
        ("limit", "0"): (400, "limit '0' must be a whole number from 1 to 1000."),
        ("process", "gret"): (404, "no process named 'gret'; did you mean 'greet'?"),
    }
    for (key, value), (status, message) in cases.items():
        answer = web.get("/api/v1/runs", params={key: value})
        assert (answer.status_code, answer.json()["error"]) == (status, message)


def test_the_history_page_lists_and_filters(web: TestClient, greeted: RunRecord, failed: RunRecord) -> None:
    page = web.get("/runs", params={"status": "failed"})
    assert f'<a href="/runs/{failed.id}">{failed.id}</a>' in page.text
    assert greeted.id not in page.text
    assert "<option selected>failed</option>" in page.text


# -- one run ---------------------------------------------------------------------------------------------


def test_a_run_is_the_document_of_show(web_ws: Workspace, web: TestClient, failed: RunRecord) -> None:
    answer = web.get(f"/api/v1/runs/{failed.id}")
    assert answer.json() == cli_json(web_ws, "show", failed.id)
    assert answer.json()["threads"][1]["exit_code"] == 3
    assert web.get("/api/v1/runs/both/latest").json()["id"] == failed.id
    assert web.get(f"/api/v1/runs/{failed.id[:-3]}").json()["id"] == failed.id  # a unique prefix


def test_an_unknown_or_malformed_run_is_refused(web: TestClient, failed: RunRecord) -> None:
    missing = web.get("/api/v1/runs/both/2001-01-01_00-00-00")
    assert missing.status_code == 404
    assert missing.json()["error"].startswith("no run named 'both/2001-01-01_00-00-00'")
    assert web.get("/api/v1/runs/nobody/latest").status_code == 404
    bad = web.get("/api/v1/runs/Both/x")
    assert bad.status_code == 400
    assert bad.json()["error"] == "'Both/x' is not a run id (PROCESS/YYYY-MM-DD_HH-MM-SS)."


def test_the_run_page_shows_threads_exit_codes_console_and_files(web: TestClient, failed: RunRecord) -> None:
    page = web.get(f"/runs/{failed.id}").text
    assert '<span class="status status-failed">failed</span>' in page
    assert "<td>exit 3</td>" in page
    assert "broken | oops" in page
    assert f'href="/runs/{failed.id}/download"' in page
    assert f'<a href="/runs/{failed.id}/files/run.json">run.json</a>' in page


def test_the_log_is_the_console_or_one_thread(web: TestClient, failed: RunRecord) -> None:
    console = (failed.folder / "console.log").read_bytes()
    assert web.get(f"/api/v1/runs/{failed.id}/log").content == console
    assert (
        web.get(f"/api/v1/runs/{failed.id}/log", params={"tail": 1}).content == console.splitlines(True)[-1]
    )
    broken = web.get(f"/api/v1/runs/{failed.id}/log", params={"thread": "broken"})
    assert broken.content == (failed.folder / "broken.log").read_bytes()
    unknown = web.get(f"/api/v1/runs/{failed.id}/log", params={"thread": "brokn"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == f"no thread in run {failed.id} named 'brokn'; did you mean 'broken'?"
    assert web.get(f"/api/v1/runs/{failed.id}/log", params={"tail": "x"}).status_code == 400


def test_the_events_of_a_finished_run_are_its_record_its_log_and_the_end(
    web: TestClient, failed: RunRecord
) -> None:
    stream = web.get(f"/api/v1/runs/{failed.id}/events")
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = [block for block in stream.text.split("\n\n") if block]
    assert events[0].startswith("event: run\ndata: {")
    log = "".join(
        "\n".join(line.removeprefix("data: ") for line in block.split("\n")[2:])
        for block in events
        if block.startswith("event: log")
    )
    assert log == (failed.folder / "console.log").read_text()
    assert events[-1] == 'event: end\ndata: {"status": "failed"}'
    size = (failed.folder / "console.log").stat().st_size
    rest = web.get(f"/api/v1/runs/{failed.id}/events", headers={"Last-Event-ID": str(size)}).text
    assert "event: log" not in rest
    assert web.get(f"/api/v1/runs/{failed.id}/events", params={"from": "x"}).status_code == 400


def test_the_events_follow_a_running_run_to_its_end(web_ws: Workspace, web: TestClient) -> None:
    code = "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.3)\n"
    added = web.post("/api/v1/threads", json={"name": "slow", "code": code})
    assert added.status_code == 201, added.text
    started = web.post("/api/v1/threads/slow/run", headers=POST).json()
    text = web.get(f"/api/v1/runs/{started['id']}/events").text
    assert text.count("tick") == 3
    assert text.endswith('event: end\ndata: {"status": "succeeded"}\n\n')


def test_download_is_the_zip_taskctl_pack_writes(
    web_ws: Workspace, web: TestClient, failed: RunRecord, tmp_path: Path
) -> None:
    answer = web.get(f"/api/v1/runs/{failed.id}/download")
    assert answer.status_code == 200
    assert (
        answer.headers["content-disposition"] == f'attachment; filename="{failed.id.replace("/", "_")}.zip"'
    )
    packed = tmp_path / "packed.zip"
    assert cli(web_ws, "pack", failed.id, "-o", str(packed))[0] == 0
    assert answer.content == packed.read_bytes()
    names = zipfile.ZipFile(packed).namelist()
    assert f"{failed.id}/console.log" in names
    tar = web.get(f"/runs/{failed.id}/download", params={"format": "tar.gz"})
    assert tar.headers["content-type"] == "application/gzip"
    zst = web.get(f"/runs/{failed.id}/download", params={"format": "tar.zst"})
    assert zst.headers["content-type"] == "application/zstd"
    assert zst.content[:4] == b"\x28\xb5\x2f\xfd"  # a zstd frame
    bad = web.get(f"/api/v1/runs/{failed.id}/download", params={"format": "rar"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "'rar' is not an archive format; use --format zip, tar.gz or tar.zst."
    assert not list((web_ws.state_dir / "downloads").iterdir())  # the temporary archives are gone


def test_a_run_folder_linked_outside_the_workspace_is_not_served(
    web_ws: Workspace, web: TestClient, failed: RunRecord, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    os.rename(web_ws.process_dir, outside)
    os.symlink(outside, web_ws.process_dir)
    answer = web.get(f"/api/v1/runs/{failed.id}/download")
    assert answer.status_code == 403
    assert answer.json()["error"] == f"process/{failed.id} leads outside the workspace; it is not served."
    assert web.get(f"/api/v1/runs/{failed.id}/files/run.json").status_code == 403


# -- files of a run: never outside it ------------------------------------------------------------------------


def test_a_file_of_a_run_is_served_as_text_or_download(web: TestClient, failed: RunRecord) -> None:
    (failed.folder / "out").mkdir()
    (failed.folder / "out" / "data.bin").write_bytes(b"\x00\x01")
    (failed.folder / "page.html").write_text("<script>alert(1)</script>")
    log = web.get(f"/api/v1/runs/{failed.id}/files/console.log")
    assert log.headers["content-type"] == "text/plain; charset=utf-8"
    assert log.content == (failed.folder / "console.log").read_bytes()
    data = web.get(f"/runs/{failed.id}/files/out/data.bin")
    assert data.content == b"\x00\x01"
    assert data.headers["content-disposition"] == 'attachment; filename="data.bin"'
    html = web.get(f"/runs/{failed.id}/files/page.html")
    assert html.headers["content-disposition"].startswith("attachment")  # never rendered on this origin
    assert html.headers["content-security-policy"] == "sandbox"


@pytest.mark.parametrize(
    "path",
    [
        "../../../config/threads.yaml",
        "..%2F..%2F..%2Fconfig%2Fthreads.yaml",
        "%2e%2e/%2e%2e/%2e%2e/config/threads.yaml",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        ".run.json.tmp",
        "out/../../x",
    ],
)
def test_a_path_that_leaves_the_run_folder_is_refused(web: TestClient, failed: RunRecord, path: str) -> None:
    answer = web.get(f"/api/v1/runs/{failed.id}/files/{path}")
    assert answer.status_code in (400, 404), answer.text
    assert "threads:" not in answer.text and "root:" not in answer.text


def test_a_symlink_in_a_run_folder_is_never_followed(
    web_ws: Workspace, web: TestClient, failed: RunRecord, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, failed.folder / "link.txt")
    os.symlink(tmp_path, failed.folder / "dir")
    for name in ("link.txt", "dir/secret.txt"):
        answer = web.get(f"/api/v1/runs/{failed.id}/files/{name}")
        assert answer.status_code == 403
        assert "top secret" not in answer.text
    assert web.get(f"/api/v1/runs/{failed.id}/files/nothing.txt").status_code == 404
    assert web.get(f"/api/v1/runs/{failed.id}/files/out").status_code == 404


# -- cancel ------------------------------------------------------------------------------------------------


def test_cancel_stops_a_running_run_and_a_finished_one_is_refused(
    web_ws: Workspace, web: TestClient, failed: RunRecord
) -> None:
    (web_ws.config_dir / "processes.yaml").write_text("processes:\n  slow:\n    threads: [long]\n")
    started = web.post("/api/v1/processes/slow/run", headers=POST).json()
    wait_until(lambda: web.get(f"/api/v1/runs/{started['id']}").json()["status"] == "running")
    refused = web.get(f"/api/v1/runs/{started['id']}/download")
    assert refused.status_code == 409
    assert refused.json()["error"].endswith("wait for it, cancel it, or pass --allow-running.")
    answer = web.post(f"/api/v1/runs/{started['id']}/cancel", headers=POST)
    assert answer.status_code == 200
    assert answer.json() == {"id": started["id"], "outcome": "cancelled", "status": "cancelled"}
    again = web.post(f"/api/v1/runs/{failed.id}/cancel", headers=POST)
    assert again.status_code == 409
    assert again.json()["error"] == f"run {failed.id} already finished (failed); there is nothing to cancel."
