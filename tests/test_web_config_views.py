"""Processes and threads through the HTTP API and the pages (taskctl/web/config_views.py): the same documents
as `--json`, the same validated comment-keeping writer, the same error sentences."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web extra (taskctl[web]) is not installed")

from starlette.testclient import TestClient

from taskctl.workspace import Workspace
from tests.web_helpers import PROCESSES, THREADS, cli, cli_json, wait_until

JSON_POST = {"X-Requested-With": "test"}


def processes_yaml(web_ws: Workspace) -> str:
    return (web_ws.config_dir / "processes.yaml").read_text(encoding="utf-8")


def threads_yaml(web_ws: Workspace) -> str:
    return (web_ws.config_dir / "threads.yaml").read_text(encoding="utf-8")


# -- reading -------------------------------------------------------------------------------------------


def test_process_list_and_show_are_the_documents_of_the_cli(web_ws: Workspace, web: TestClient) -> None:
    assert web.get("/api/v1/processes").json() == cli_json(web_ws, "process", "list")
    shown = web.get("/api/v1/processes/greet", params={"count": 2}).json()
    assert shown == cli_json(web_ws, "process", "show", "greet", "--count", "2")
    assert shown["next"][0] == {
        "at": "2030-01-07T08:00:00Z",
        "local": "2030-01-07T09:00:00+01:00",
        "dst": None,
    }


def test_thread_list_and_show_are_the_documents_of_the_cli(web_ws: Workspace, web: TestClient) -> None:
    assert web.get("/api/v1/threads").json() == cli_json(web_ws, "thread", "list")
    assert web.get("/api/v1/threads/hello").json() == cli_json(web_ws, "thread", "show", "hello")


def test_an_unknown_name_is_404_with_the_cli_sentence(web_ws: Workspace, web: TestClient) -> None:
    answer = web.get("/api/v1/processes/gret")
    _, _, err = cli(web_ws, "process", "show", "gret")
    assert answer.status_code == 404
    assert answer.json() == {"ok": False, "error": "no process named 'gret'; did you mean 'greet'?"}
    assert err.strip() == "error: " + answer.json()["error"]
    assert web.get("/api/v1/threads/helo").json()["error"] == "no thread named 'helo'; did you mean 'hello'?"
    page = web.get("/processes/gret")
    assert page.status_code == 404
    assert "no process named &#39;gret&#39;; did you mean &#39;greet&#39;?" in page.text


def test_a_bad_count_is_a_bad_request(web: TestClient) -> None:
    answer = web.get("/api/v1/processes/greet", params={"count": "many"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "count 'many' must be a whole number from 0 to 1000."


def test_an_invalid_config_is_422_with_every_problem(web_ws: Workspace, web: TestClient) -> None:
    (web_ws.config_dir / "processes.yaml").write_text("processes:\n  greet:\n    threads: [nobody]\n")
    answer = web.get("/api/v1/processes")
    assert answer.status_code == 422
    problems = answer.json()["errors"]
    assert problems[0]["file"] == "config/processes.yaml"
    assert "nobody" in problems[0]["message"]
    assert "nobody" in web.get("/").text  # the dashboard says what to fix


def test_the_pages_show_the_processes_threads_and_next_fires(web: TestClient) -> None:
    page = web.get("/processes")
    assert '<a href="/processes/greet">greet</a>' in page.text
    assert "Mon 2030-01-07 09:00 CET" in page.text
    page = web.get("/processes/greet")
    assert "2030-01-07T08:00:00Z" in page.text
    assert '<a href="/threads/hello">hello</a>' in page.text
    assert '<span class="tag">greeting</span>' in web.get("/threads").text


def test_a_dst_mark_shows_as_upcoming_shows_it(web_ws: Workspace, web: TestClient) -> None:
    (web_ws.config_dir / "processes.yaml").write_text(
        "processes:\n  night:\n    threads: [hello]\n    schedule: ['30 2 * * *']\n"
    )
    shown = web.get("/api/v1/processes/night", params={"count": 400}).json()
    marks = {item["dst"] for item in shown["next"]}
    assert {"shifted", "deduplicated"} <= marks
    assert shown == cli_json(web_ws, "process", "show", "night", "--count", "400")


# -- adding --------------------------------------------------------------------------------------------


def test_adding_a_process_writes_it_and_answers_the_cli_document(web_ws: Workspace, web: TestClient) -> None:
    answer = web.post(
        "/api/v1/processes",
        json={"name": "nightly", "threads": ["hello", "broken"], "schedule": ["30 2 * * *"]},
    )
    assert answer.status_code == 201
    document = answer.json()
    assert document["ok"] is True
    assert (document["action"], document["kind"], document["name"]) == ("add", "process", "nightly")
    assert document["file"] == "config/processes.yaml"
    assert processes_yaml(web_ws).startswith(PROCESSES)
    assert "  nightly:\n    threads: [hello, broken]\n" in processes_yaml(web_ws)


def test_a_dry_run_adds_nothing(web_ws: Workspace, web: TestClient) -> None:
    answer = web.post("/api/v1/processes", json={"name": "nightly", "threads": ["hello"], "dry_run": True})
    assert answer.status_code == 200
    assert answer.json()["dry_run"] is True
    assert "+  nightly:" in answer.json()["diff"]
    assert processes_yaml(web_ws) == PROCESSES


def test_a_refused_add_names_every_problem_and_writes_nothing(web_ws: Workspace, web: TestClient) -> None:
    answer = web.post(
        "/api/v1/processes", json={"name": "nightly", "threads": ["ghost"], "schedule": ["dayly at 10:30"]}
    )
    assert answer.status_code == 422
    _, _, err = cli(web_ws, "process", "add", "nightly", "--thread", "ghost", "--schedule", "dayly at 10:30")
    cli_lines = [line.removeprefix("error: ") for line in err.strip().splitlines()[1:]]
    assert [
        f"{e['file']}:{e['line']}: {e['path']}: {e['message']}" for e in answer.json()["errors"]
    ] == cli_lines
    assert processes_yaml(web_ws) == PROCESSES


def test_adding_a_taken_or_bad_name_is_refused(web_ws: Workspace, web: TestClient) -> None:
    taken = web.post("/api/v1/processes", json={"name": "greet", "threads": ["hello"]})
    assert taken.status_code == 409
    assert taken.json()["error"].startswith("process 'greet' already exists (config/processes.yaml:3)")
    bad = web.post("/api/v1/processes", json={"name": "Bad Name", "threads": ["hello"]})
    assert bad.status_code == 400
    nameless = web.post("/api/v1/processes", json={"threads": ["hello"]})
    assert nameless.json() == {"ok": False, "error": "give the new process a name."}
    assert processes_yaml(web_ws) == PROCESSES


def test_the_add_form_adds_a_process_and_shows_its_page(web_ws: Workspace, web: TestClient) -> None:
    token = web.get("/processes/new").cookies["taskctl_csrf"]
    form = {
        "csrf_token": token,
        "name": "weekly",
        "threads": "hello, broken",
        "schedule": "monday at 09:00\n",
    }
    answer = web.post("/processes", data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/processes/weekly"
    assert (
        "  weekly:\n    threads: [hello, broken]\n    schedule:\n      - monday at 09:00\n"
        in processes_yaml(web_ws)
    )


def test_a_refused_form_shows_the_errors_and_keeps_what_was_typed(web_ws: Workspace, web: TestClient) -> None:
    token = web.get("/processes/new").cookies["taskctl_csrf"]
    form = {"csrf_token": token, "name": "weekly", "threads": "hello", "schedule": "dayly at 10:30"}
    answer = web.post("/processes", data=form)
    assert answer.status_code == 422
    assert "nothing was written; the config would not be valid after this change:" in answer.text
    assert "&#39;dayly at 10:30&#39; is not a schedule (try &#39;daily at 10:30&#39;)" in answer.text
    assert ">dayly at 10:30</textarea>" in answer.text
    assert processes_yaml(web_ws) == PROCESSES


def test_adding_a_thread_with_uploaded_script_and_input(web_ws: Workspace, web: TestClient) -> None:
    files = {
        "script": ("scrape.py", io.BytesIO(b"print('scraping')\n"), "text/x-python"),
        "input": ("links.csv", io.BytesIO(b"url\nhttps://shop.example/1\n"), "text/csv"),
    }
    data = {"name": "scraper", "type": "scraping", "tags": "shop, daily"}
    answer = web.post("/api/v1/threads", data=data, files=files, headers=JSON_POST)
    assert answer.status_code == 201, answer.text
    assert (web_ws.root / "threads/scraper/scrape.py").read_bytes() == b"print('scraping')\n"
    assert (web_ws.root / "threads/scraper/links.csv").read_text() == "url\nhttps://shop.example/1\n"
    assert cli_json(web_ws, "thread", "show", "scraper")["script"] == "scrape.py"
    assert threads_yaml(web_ws).startswith(THREADS)
    assert not list((web_ws.state_dir / "uploads").iterdir())  # nothing left behind


def test_an_upload_name_that_leaves_the_folder_is_refused(web_ws: Workspace, web: TestClient) -> None:
    for name in ("../evil.py", "/etc/evil.py", "..", "a\\b.py"):
        files = {"script": (name, io.BytesIO(b"x"), "text/plain")}
        answer = web.post("/api/v1/threads", data={"name": "evil"}, files=files, headers=JSON_POST)
        assert answer.status_code == 400, name
        assert "must be a plain file name" in answer.json()["error"]
    files = {"script": ("main.py", io.BytesIO(b"x"), "text/plain")}
    dotted = web.post("/api/v1/threads", data={"name": "../../evil"}, files=files, headers=JSON_POST)
    assert dotted.status_code == 400
    assert dotted.json()["error"].startswith("thread '../../evil' is not a valid name")
    assert not (web_ws.root / "threads" / "evil").exists()
    assert not (web_ws.root / "evil.py").exists()
    assert threads_yaml(web_ws) == THREADS


def test_an_upload_into_a_thread_folder_linked_outside_is_refused(
    web_ws: Workspace, web: TestClient, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, web_ws.thread_dir("hello"))
    files = {"script": ("main.py", io.BytesIO(b"print(1)\n"), "text/plain")}
    answer = web.post("/api/v1/threads/hello/files", files=files, headers=JSON_POST)
    assert answer.status_code == 403
    assert answer.json()["error"] == "threads/hello leads outside the workspace; it is not served."
    assert list(outside.iterdir()) == []


def test_uploading_a_new_script_to_a_thread(web_ws: Workspace, web: TestClient) -> None:
    files = {"script": ("run.py", io.BytesIO(b"print('new')\n"), "text/plain")}
    answer = web.post("/api/v1/threads/scripted/files", files=files, headers=JSON_POST)
    assert answer.status_code == 200, answer.text
    assert answer.json()["copied"][0]["to"] == "threads/scripted/run.py"
    assert answer.json()["notes"] == ["kept threads/scripted/main.py, which the thread no longer uses"]
    assert "    script: run.py\n" in threads_yaml(web_ws)
    code_thread = web.post("/api/v1/threads/hello/files", files=files, headers=JSON_POST)
    assert code_thread.status_code == 422  # as `thread edit hello --script run.py`: it runs code
    assert "sets script and code; keep one" in code_thread.json()["error"]
    empty = web.post("/api/v1/threads/hello/files", data={"x": "1"}, headers=JSON_POST)
    assert empty.status_code == 400


# -- changing ------------------------------------------------------------------------------------------


def test_patching_a_schedule_keeps_every_comment(web_ws: Workspace, web: TestClient) -> None:
    body = {"add": {"schedule": ["daily at 06:30"]}, "remove": {"schedule": ["2030-01-07 09:00"]}}
    answer = web.patch("/api/v1/processes/greet", json=body)
    assert answer.status_code == 200, answer.text
    text = processes_yaml(web_ws)
    assert "# Processes of the web tests: comments here must survive every edit.\n" in text
    assert "  greet:  # says hello\n" in text
    assert "      - daily at 06:30\n" in text
    assert "2030-01-07" not in text
    assert answer.json()["entry"]["schedule"] == ["daily at 06:30"]


def test_a_patch_sets_unsets_and_disables(web_ws: Workspace, web: TestClient) -> None:
    answer = web.patch(
        "/api/v1/processes/greet", json={"set": {"timeout": "2h"}, "unset": ["tags"], "enabled": False}
    )
    assert answer.status_code == 200
    assert cli_json(web_ws, "process", "show", "greet")["enabled"] is False
    assert cli_json(web_ws, "process", "show", "greet")["timeout"] == 7200.0
    assert "tags" not in processes_yaml(web_ws).split("both:")[0]


def test_a_refused_patch_writes_nothing(web_ws: Workspace, web: TestClient) -> None:
    answer = web.patch("/api/v1/processes/greet", json={"add": {"schedule": ["dayly at 10:30"]}})
    assert answer.status_code == 422
    assert (
        answer.json()["errors"][0]["message"] == "'dayly at 10:30' is not a schedule (try 'daily at 10:30')"
    )
    assert processes_yaml(web_ws) == PROCESSES
    unknown = web.patch("/api/v1/processes/greet", json={"sett": {}})
    assert unknown.status_code == 400
    assert unknown.json()["error"].startswith("unknown field 'sett' in the body")
    not_json = web.patch(
        "/api/v1/processes/greet", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"].startswith("the request body is not valid JSON")
    missing = web.patch("/api/v1/processes/nobody", json={"enabled": False})
    assert missing.status_code == 404


def test_a_form_made_from_an_older_file_is_refused(web_ws: Workspace, web: TestClient) -> None:
    page = web.get("/processes/greet/edit")
    token = page.cookies["taskctl_csrf"]
    base = page.text.split('name="base" value="')[1].split('"')[0]
    (web_ws.config_dir / "processes.yaml").write_text(PROCESSES + "# someone else was here\n")
    form = {"csrf_token": token, "base": base, "timeout": "1h"}
    answer = web.post("/processes/greet/edit", data=form)
    assert answer.status_code == 409
    assert (
        "config/processes.yaml changed on disk since this page was loaded; nothing was written" in answer.text
    )
    assert processes_yaml(web_ws).endswith("# someone else was here\n")


def test_the_edit_form_changes_only_what_changed(web_ws: Workspace, web: TestClient) -> None:
    page = web.get("/processes/greet/edit")
    token = page.cookies["taskctl_csrf"]
    base = page.text.split('name="base" value="')[1].split('"')[0]
    form = {
        "csrf_token": token,
        "base": base,
        "threads": "hello",
        "schedule": "2030-01-07 09:00\nhourly",
        "tags": "daily",
        "timezone": "",
        "description": "",
        "enabled": "yes",
    }
    answer = web.post("/processes/greet/edit", data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert processes_yaml(web_ws) == PROCESSES.replace(
        "      - 2030-01-07 09:00   # a Monday\n", "      - 2030-01-07 09:00   # a Monday\n      - hourly\n"
    )


def test_the_yaml_editor_replaces_the_entry(web_ws: Workspace, web: TestClient) -> None:
    page = web.get("/processes/greet/edit")
    assert "greet:  # says hello" in page.text  # the entry's own text, comments and all
    source = "greet:  # says hello\n  threads: [hello]\n  schedule: hourly  # now hourly\n"
    answer = web.put("/api/v1/processes/greet/yaml", json={"source": source})
    assert answer.status_code == 200, answer.text
    assert (
        "  greet:  # says hello\n    threads: [hello]\n    schedule: hourly  # now hourly\n"
        in processes_yaml(web_ws)
    )
    bad = web.put("/api/v1/processes/greet/yaml", json={"source": "greet:\n  threads: [hello\n"})
    assert bad.status_code == 422


def test_enable_disable_delete_and_run_from_the_pages(web_ws: Workspace, web: TestClient) -> None:
    token = web.get("/processes/greet").cookies["taskctl_csrf"]
    assert web.post("/processes/greet/disable", data={"csrf_token": token}).status_code == 200
    assert "    enabled: false\n" in processes_yaml(web_ws)
    assert "(disabled)" in web.get("/processes/greet").text
    web.post("/processes/greet/enable", data={"csrf_token": token})
    assert processes_yaml(web_ws) == PROCESSES
    web.post("/threads/long/disable", data={"csrf_token": token})
    assert "    enabled: false\n" in threads_yaml(web_ws)
    answer = web.post("/processes/both/delete", data={"csrf_token": token}, follow_redirects=False)
    assert answer.headers["location"] == "/processes"
    assert "both:" not in processes_yaml(web_ws)


def test_deleting_through_the_api(web_ws: Workspace, web: TestClient) -> None:
    dry = web.delete("/api/v1/processes/both", params={"dry_run": "1"})
    assert dry.json()["dry_run"] is True
    assert processes_yaml(web_ws) == PROCESSES
    assert web.delete("/api/v1/processes/both").json()["action"] == "remove"
    used = web.delete("/api/v1/threads/hello")
    assert used.status_code == 409
    assert used.json()["error"].startswith("thread hello is used by process greet")
    assert web.delete("/api/v1/threads/long").status_code == 200
    assert "long:" not in threads_yaml(web_ws)
    assert web.delete("/api/v1/threads/long").status_code == 404


# -- running -------------------------------------------------------------------------------------------


def test_run_now_starts_the_run_in_the_background(web_ws: Workspace, web: TestClient) -> None:
    answer = web.post("/api/v1/processes/greet/run", headers=JSON_POST)
    assert answer.status_code == 202
    started = answer.json()
    assert started["id"].startswith("greet/")
    assert started["folder"] == str(web_ws.root / "process" / started["id"])

    def finished() -> dict[str, object] | None:
        run = web.get(f"/api/v1/runs/{started['id']}").json()
        return run if run["status"] in ("succeeded", "failed") else None

    assert wait_until(finished)["status"] == "succeeded"
    assert web.post("/api/v1/processes/nobody/run", headers=JSON_POST).status_code == 404


def test_a_thread_runs_alone(web_ws: Workspace, web: TestClient) -> None:
    answer = web.post("/api/v1/threads/hello/run", headers=JSON_POST)
    assert answer.status_code == 202
    assert answer.json()["id"].startswith("hello/")
    assert web.post("/api/v1/threads/nobody/run", headers=JSON_POST).status_code == 404


def test_a_thread_is_changed_by_patch_and_by_its_yaml(web_ws: Workspace, web: TestClient) -> None:
    answer = web.patch("/api/v1/threads/hello", json={"set": {"timeout": "5m"}, "add": {"tags": ["polite"]}})
    assert answer.status_code == 200, answer.text
    assert cli_json(web_ws, "thread", "show", "hello")["tags"] == ["greeting", "polite"]
    assert threads_yaml(web_ws).startswith("# Threads of the web tests.\n")
    source = "long:\n  command: ['sleep', '1']  # shorter\n"
    assert web.put("/api/v1/threads/long/yaml", json={"source": source}).status_code == 200
    assert "  long:\n    command: ['sleep', '1']  # shorter\n" in threads_yaml(web_ws)
    renamed = web.put("/api/v1/threads/long/yaml", json={"source": "short:\n  command: ['true']\n"})
    assert renamed.status_code == 422
    assert renamed.json()["errors"][0]["message"].startswith("the thread must stay named 'long', not 'short'")


def test_the_thread_forms_add_and_edit(web_ws: Workspace, web: TestClient) -> None:
    token = web.get("/threads/new").cookies["taskctl_csrf"]
    form = {
        "csrf_token": token,
        "name": "backup",
        "kind": "command",
        "command": "tar -czf b.tgz data",
        "code": "",
    }
    answer = web.post("/threads", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert "  backup:\n    command: tar -czf b.tgz data\n" in threads_yaml(web_ws)
    page = web.get("/threads/backup/edit")
    base = page.text.split('name="base" value="')[1].split('"')[0]
    edited = web.post(
        "/threads/backup/edit",
        data={"csrf_token": token, "base": base, "command": "tar -czf b.tgz data", "timeout": "10m"},
        follow_redirects=False,
    )
    assert edited.status_code == 303
    assert "  backup:\n    command: tar -czf b.tgz data\n    timeout: 10m\n" in threads_yaml(web_ws)
    refused = web.post("/threads", data={**form, "name": "script-less", "kind": "script"})
    assert refused.status_code == 400
    assert "needs something to run" in refused.text


def test_a_value_the_form_cannot_show_is_left_to_the_yaml_editor(web_ws: Workspace, web: TestClient) -> None:
    page = web.get("/threads/long/edit").text  # command: ['sleep', '30'] is a list
    assert '<input name="command" disabled title="written in a form this page cannot show' in page
    assert "command: [&#39;sleep&#39;, &#39;30&#39;]" in page  # in the YAML editor


def test_a_bad_upload_in_the_form_shows_the_form_again(web_ws: Workspace, web: TestClient) -> None:
    token = web.get("/threads/new").cookies["taskctl_csrf"]
    files = {"script": ("../up.py", io.BytesIO(b"print(1)\n"), "text/plain")}
    answer = web.post(
        "/threads", data={"csrf_token": token, "name": "uploader", "kind": "script"}, files=files
    )
    assert answer.status_code == 400
    assert "must be a plain file name" in answer.text
    assert 'value="uploader"' in answer.text
    assert threads_yaml(web_ws) == THREADS
