"""Shared fixtures. Every test runs in a temporary folder in Europe/Berlin, never in the real workspace."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskctl.workspace import Workspace, create_workspace


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


def write(path: Path, text: str) -> Path:
    """Write `text` to `path`, creating folders; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


os.environ.setdefault("PYTHONUNBUFFERED", "1")
