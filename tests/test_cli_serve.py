"""`taskctl serve` as a user starts it: the checks before it listens, and a real server answering."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from taskctl.workspace import Workspace
from tests.web_helpers import cli, make_workspace

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path / "ws")


def test_another_address_without_a_token_is_refused(ws: Workspace) -> None:
    code, _, err = cli(ws, "serve", "--host", "0.0.0.0")
    assert code == 2
    assert err == (
        "error: --host 0.0.0.0 makes the dashboard reachable from other machines; pass --token-file FILE "
        "(a file holding a secret of at least 16 characters) so that every request must carry it.\n"
    )


def test_a_token_file_that_is_missing_or_weak_is_refused(ws: Workspace, tmp_path: Path) -> None:
    code, _, err = cli(ws, "serve", "--token-file", str(tmp_path / "nothing"))
    assert code == 2
    assert (
        err == f"error: --token-file '{tmp_path / 'nothing'}' does not exist; write a secret into it first.\n"
    )
    weak = tmp_path / "weak"
    weak.write_text("1234\n")
    code, _, err = cli(ws, "serve", "--host", "0.0.0.0", "--token-file", str(weak))
    assert code == 2
    assert "must hold one secret of at least 16 characters" in err


def test_a_bad_upload_size_is_a_usage_error(ws: Workspace) -> None:
    code, _, err = cli(ws, "serve", "--max-upload-size", "lots")
    assert code == 2
    assert err.startswith("error: --max-upload-size: ")


def test_without_the_web_extra_it_says_how_to_install_it(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a)
    )
    code, _, err = cli(ws, "serve")
    assert code == 1
    assert err == (
        "error: taskctl serve needs the web extra, which is not installed (missing: uvicorn); "
        "install it with: pip install 'taskctl[web]'\n"
    )


def test_a_port_in_use_is_one_sentence(ws: Workspace) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = cli(ws, "serve", "--port", str(port))
    assert code == 1
    assert (
        err
        == f"error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another --port (or --host).\n"
    )


def test_the_cli_does_not_load_the_web_stack_to_start() -> None:
    code = "import sys, taskctl.cli.main; print(sorted(m for m in ('starlette', 'uvicorn', 'jinja2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM)])
def test_a_real_server_answers_and_stops_on_a_signal(
    ws: Workspace, tmp_path: Path, stop: signal.Signals, code: int
) -> None:
    token = tmp_path / "token"
    token.write_text("a-long-enough-secret-token\n")
    token.chmod(0o600)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taskctl",
            "--root",
            str(ws.root),
            "serve",
            "--port",
            "0",
            "--token-file",
            str(token),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        first = server.stderr.readline()
        found = re.search(r"on http://127\.0\.0\.1:(\d+)/ ", first)
        assert found, first
        url = f"http://127.0.0.1:{found.group(1)}/api/v1/processes"
        request = urllib.request.Request(url, headers={"Authorization": "Bearer a-long-enough-secret-token"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert [p["name"] for p in json.load(answer)] == ["greet", "both"][::-1]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=30)
        assert refused.value.code == 401
    finally:
        server.send_signal(stop)
        assert server.wait(timeout=30) == code  # uvicorn stops, then raises the signal again: Ctrl-C is 130
