"""Wheels for offline installs in tests: tiny made-up packages, and pytest repacked from this interpreter.

pip and uv are pointed at a folder of these wheels only (see `offline_installs`), so building a thread's
environment never needs the network.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

# pytest and what it needs on this Python (3.11+): a test thread's environment gets these
PYTEST_DISTRIBUTIONS = ("pytest", "pluggy", "iniconfig", "packaging", "pygments")
_NOT_REPACKED = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def _write_wheel(wheel: Path, files: dict[str, bytes], dist_info: str) -> Path:
    record = [_record_line(path, data) for path, data in files.items()]
    record.append(f"{dist_info}/RECORD,,")
    files = {**files, f"{dist_info}/RECORD": ("\n".join(record) + "\n").encode()}
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def make_wheel(folder: Path, name: str, version: str) -> Path:
    """A pure-Python wheel of package `name` whose module knows its version."""
    dist = f"{name}-{version}"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    return _write_wheel(folder / f"{dist}-py3-none-any.whl", files, f"{dist}.dist-info")


def repack_installed(folder: Path, name: str) -> Path:
    """A wheel of the distribution `name` as installed here (pure Python), from its installed files."""
    dist = metadata.distribution(name)
    files: dict[str, bytes] = {}
    dist_info = ""
    for entry in dist.files or []:
        path = str(entry)
        if path.startswith("..") or "__pycache__" in path or path.endswith(".pyc"):
            continue  # console scripts live outside site-packages; byte code is rebuilt
        if ".dist-info/" in path:
            dist_info = path.split("/", 1)[0]
            if path.rsplit("/", 1)[-1] in _NOT_REPACKED:
                continue
        files[path] = Path(str(dist.locate_file(entry))).read_bytes()
    stem = f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}"
    return _write_wheel(folder / f"{stem}-py3-none-any.whl", files, dist_info)


def offline_installs(monkeypatch: pytest.MonkeyPatch, wheels: Path, uv_cache: Path) -> None:
    """pip and uv install from `wheels` only: no index, no user or machine config."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.delenv("PIP_CONSTRAINT", raising=False)
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    monkeypatch.setenv("UV_CACHE_DIR", str(uv_cache))
    monkeypatch.delenv("TASKCTL_INSTALLER", raising=False)
