"""Shared fixtures. Every test runs in a temporary folder in Europe/Berlin, never in the real workspace."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskctl.workspace import Workspace, create_workspace
from tests.webhooks import Hook, serve_hook


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test may touch the repository's own workspace: run from an empty folder, zone Europe/Berlin."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    monkeypatch.delenv("TASKCTL_ROOT", raising=False)
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    time.tzset()


@pytest.fixture
def example(tmp_path: Path) -> Workspace:
    """A fresh copy of the example workspace."""
    return create_workspace(tmp_path / "ws")


@pytest.fixture
def empty_workspace(tmp_path: Path) -> Workspace:
    """A workspace with an empty config/ and threads/."""
    root = tmp_path / "ws"
    (root / "config").mkdir(parents=True)
    (root / "threads").mkdir()
    return Workspace(root)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of wheels to install from offline: tinypkg 1.0 and 2.0, otherpkg 0.5, and pytest with what it
    needs (repacked from this interpreter's)."""
    from tests.wheels import PYTEST_DISTRIBUTIONS, make_wheel, repack_installed

    folder = tmp_path_factory.mktemp("wheels")
    for version in ("1.0", "2.0"):
        make_wheel(folder, "tinypkg", version)
    make_wheel(folder, "otherpkg", "0.5")
    for name in PYTEST_DISTRIBUTIONS:
        repack_installed(folder, name)
    return folder


@pytest.fixture
def offline(wheels: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip and uv install from `wheels` only (no index, no user or machine config); returns that folder."""
    from tests.wheels import offline_installs

    offline_installs(monkeypatch, wheels, tmp_path_factory.getbasetemp() / "uv-cache")
    return wheels


@pytest.fixture
def web_ws(tmp_path: Path) -> Workspace:
    """The web tests' workspace (tests/web_helpers.py): three threads, two processes, four SKUs."""
    from tests.web_helpers import make_workspace

    return make_workspace(tmp_path / "ws")


@pytest.fixture
def web(web_ws: Workspace) -> Iterator[Any]:
    """`taskctl serve`'s app on `web_ws`, driven in process (a Starlette TestClient)."""
    pytest.importorskip("starlette", reason="the web extra (taskctl[web]) is not installed")
    from starlette.testclient import TestClient

    from taskctl.web.app import create_app
    from taskctl.web.site import ServeOptions, Site

    with TestClient(create_app(Site(web_ws, ServeOptions())), base_url="http://127.0.0.1:8470") as client:
        yield client


@pytest.fixture
def hook() -> Iterator[Hook]:
    """A webhook receiver on loopback (see tests/webhooks.py)."""
    yield from serve_hook()


def write(path: Path, text: str) -> Path:
    """Write `text` to `path`, creating folders; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


os.environ.setdefault("PYTHONUNBUFFERED", "1")


REPO = Path(__file__).resolve().parents[1]


def on_a_terminal(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """taskctl with stdout and stderr on a pseudo-terminal, as in an interactive shell: exit code, screen."""
    import pty
    import select

    leader, follower = pty.openpty()
    inherited = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    environment = {**inherited, "PYTHONPATH": str(REPO), "TERM": "xterm", **(env or {})}
    child = subprocess.Popen(
        [sys.executable, "-m", "taskctl", "--root", str(ws.root), *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=environment,
    )
    os.close(follower)
    screen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            child.kill()
            raise AssertionError(f"no output for 60 s: {screen!r}")
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed: every process holding it is gone
            break
        if not data:
            break
        screen += data
    os.close(leader)
    return child.wait(timeout=30), screen.decode()
