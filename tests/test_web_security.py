"""Who may talk to the server and what a request may carry (taskctl/web/security.py): loopback Host names
without a token, the token (header or login cookie) with one, forged requests, the upload limit."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web extra (taskctl[web]) is not installed")

from starlette.testclient import TestClient

from taskctl.errors import UsageError
from taskctl.web.app import create_app
from taskctl.web.security import check_listen, is_loopback, read_token, safe_next
from taskctl.web.site import ServeOptions, Site
from taskctl.workspace import Workspace
from tests.web_helpers import PROCESSES, make_workspace

TOKEN = "s3cret-token-of-some-length"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path / "ws")


def client_for(ws: Workspace, **options: object) -> TestClient:
    site = Site(ws, ServeOptions(**options))  # type: ignore[arg-type]
    return TestClient(create_app(site), base_url="http://127.0.0.1:8470")


@pytest.fixture
def open_client(ws: Workspace) -> Iterator[TestClient]:
    with client_for(ws) as client:
        yield client


@pytest.fixture
def locked(ws: Workspace) -> Iterator[TestClient]:
    with client_for(ws, host="0.0.0.0", token=TOKEN) as client:
        yield client


def processes_yaml(ws: Workspace) -> str:
    return (ws.config_dir / "processes.yaml").read_text(encoding="utf-8")


# -- listening ---------------------------------------------------------------------------------------------


def test_only_loopback_is_served_without_a_token(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.1.2.3") and is_loopback("::1")
    assert is_loopback("localhost") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.com")
    check_listen("127.0.0.1", None)
    check_listen("0.0.0.0", tmp_path / "token")
    with pytest.raises(UsageError, match=r"--host 0.0.0.0 makes the dashboard reachable from other machines"):
        check_listen("0.0.0.0", None)


def test_a_token_file_must_hold_a_real_secret(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        read_token(tmp_path / "missing")
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(UsageError, match="at least 16 characters"):
        read_token(short)
    good = tmp_path / "good"
    good.write_text(f"  {TOKEN}\n")
    assert read_token(good) == TOKEN


def test_a_request_to_another_host_name_is_refused_without_a_token(open_client: TestClient) -> None:
    assert open_client.get("/", headers={"host": "localhost:8470"}).status_code == 200
    assert open_client.get("/", headers={"host": "[::1]:8470"}).status_code == 200
    rebound = open_client.get("/api/v1/status", headers={"host": "attacker.example:8470"})
    assert rebound.status_code == 403
    assert rebound.text == "this server answers only requests to a loopback address (127.0.0.1).\n"


# -- the token -------------------------------------------------------------------------------------------------


def test_with_a_token_every_request_needs_it(locked: TestClient) -> None:
    api = locked.get("/api/v1/processes")
    assert api.status_code == 401
    assert api.headers["www-authenticate"] == 'Bearer realm="taskctl"'
    assert api.json()["error"].startswith("this server needs its token")
    assert locked.get("/metrics").status_code == 401
    page = locked.get("/runs?status=failed", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fruns%3Fstatus%3Dfailed"
    wrong = locked.get("/api/v1/processes", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = locked.get("/api/v1/processes", headers={"authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200
    assert locked.get("/static/style.css").status_code == 200  # what the login page needs


def test_the_login_form_sets_a_cookie_that_is_not_the_token(locked: TestClient) -> None:
    form = locked.get("/login", params={"next": "/runs"})
    token = form.cookies["taskctl_csrf"]
    refused = locked.post("/login", data={"csrf_token": token, "token": "guess", "next": "/runs"})
    assert refused.status_code == 401
    assert "that is not the token this server was started with" in refused.text
    answer = locked.post(
        "/login", data={"csrf_token": token, "token": TOKEN, "next": "/runs"}, follow_redirects=False
    )
    assert answer.headers["location"] == "/runs"
    session = answer.cookies["taskctl_session"]
    assert TOKEN not in session
    assert "httponly" in answer.headers["set-cookie"].lower()
    assert locked.get("/runs").status_code == 200
    locked.post("/logout", data={"csrf_token": token})
    assert locked.get("/runs", follow_redirects=False).status_code == 303


def test_a_login_never_sends_the_browser_elsewhere() -> None:
    assert safe_next("/runs?x=1") == "/runs?x=1"
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "", None, "runs"):
        assert safe_next(target) == "/"


def test_the_token_header_is_proof_enough_to_change_things(ws: Workspace, locked: TestClient) -> None:
    headers = {"authorization": f"Bearer {TOKEN}"}
    answer = locked.post("/processes/greet/disable", headers=headers)
    assert answer.status_code in (200, 303)
    assert "enabled: false" in processes_yaml(ws)


# -- forged requests ---------------------------------------------------------------------------------------------


def test_a_form_without_its_csrf_token_changes_nothing(ws: Workspace, open_client: TestClient) -> None:
    open_client.get("/processes")  # sets the csrf cookie
    forged = open_client.post("/processes/greet/disable", data={"csrf_token": "guessed"})
    assert forged.status_code == 403
    assert "its csrf_token is missing or stale" in forged.text
    bare = open_client.post("/processes/greet/disable")
    assert bare.status_code == 403
    assert processes_yaml(ws) == PROCESSES


def test_a_request_from_another_site_is_refused_whatever_it_carries(
    ws: Workspace, open_client: TestClient
) -> None:
    token = open_client.get("/processes").cookies["taskctl_csrf"]
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"}):
        answer = open_client.post("/processes/greet/disable", data={"csrf_token": token}, headers=headers)
        assert answer.status_code == 403
        json_answer = open_client.patch("/api/v1/processes/greet", json={"enabled": False}, headers=headers)
        assert json_answer.status_code == 403
        assert json_answer.json()["error"] == "a page of another site may not change anything here."
    assert processes_yaml(ws) == PROCESSES
    same = open_client.post(
        "/processes/greet/disable", data={"csrf_token": token}, headers={"origin": "http://127.0.0.1:8470"}
    )
    assert same.status_code == 200


def test_what_a_foreign_page_cannot_send_needs_no_csrf_token(ws: Workspace, open_client: TestClient) -> None:
    assert open_client.patch("/api/v1/processes/greet", json={"enabled": False}).status_code == 200
    text_post = open_client.post(
        "/api/v1/processes/greet/run", content=b"x", headers={"content-type": "text/plain"}
    )
    assert text_post.status_code == 403  # a plain-text POST is what any page can send
    with_header = open_client.post("/api/v1/threads/hello/run", headers={"x-requested-with": "script"})
    assert with_header.status_code == 202


# -- size limits -----------------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_before_anything_is_written(ws: Workspace) -> None:
    with client_for(ws, max_upload=1000) as client:
        files = {"file": ("big.csv", io.BytesIO(b"x" * 5000), "text/csv")}
        answer = client.post("/api/v1/skus/import", files=files, headers={"x-requested-with": "t"})
        assert answer.status_code == 413
        assert answer.json()["error"].startswith("the request is larger than the upload limit of 1000 B")

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"name": "x", "threads": ["'
            yield b"a" * 5000
            yield b'"]}'

        streamed = client.post(
            "/api/v1/processes", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
    assert processes_yaml(ws) == PROCESSES
    assert not (ws.state_dir / "uploads").exists() or not list((ws.state_dir / "uploads").iterdir())


def test_pages_carry_security_headers(open_client: TestClient) -> None:
    headers = open_client.get("/").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
