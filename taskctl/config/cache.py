"""What the last loads made of each config file, so that an unchanged file is not parsed and validated again.

Reading YAML and validating with pydantic is most of what a command that loads the config costs, and
importing them alone takes longer than the rest of the command. A file whose bytes (and name) are those of
a file validated before gets back what validation made of it, as plain JSON data; only a file that changed is
parsed and validated. Checks that look beyond one file (scripts that exist, names across files, schedules)
run on every load.

The cache is `.taskctl/config-cache.json` in the workspace. An entry is used only if the file's SHA-256 is
the one recorded and the cache was written by the same taskctl (version, Python and the code that reads and
validates config files, down to each file's size and modification time). A cache that is missing, unreadable,
corrupt or from another taskctl is ignored and rewritten; a workspace that cannot be written just goes
without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Collection
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from taskctl import __version__
from taskctl.config.models import same_value
from taskctl.workspace import Workspace

CACHE_FILE = "config-cache.json"
_FORMAT = 1

# The code whose behaviour decides what a config file means: taskctl's own (by size and modification time,
# so that an edited checkout is not mistaken for the version it says it is), and the libraries that parse
# and validate.
_PACKAGE = Path(__file__).resolve().parents[1]
_OWN_CODE = ("config", "units.py", "errors.py", "workspace.py", "schedule.py", "__init__.py")
_LIBRARIES = ("yaml", "pydantic", "pydantic_core", "tzdata")  # tzdata: the zones a file may name


def code_fingerprint() -> str:
    """Which taskctl (and parser and validator) this is: a cache written by another is not trusted."""
    parts = [f"taskctl {__version__}", sys.version]
    for name in _OWN_CODE:
        path = _PACKAGE / name
        files = sorted(path.glob("*.py")) if path.is_dir() else [path]
        parts.extend(_stamp(file) for file in files)
    for library in _LIBRARIES:
        spec = find_spec(library)
        parts.append(_stamp(Path(spec.origin)) if spec is not None and spec.origin else f"{library}: none")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _stamp(path: Path) -> str:
    try:
        info = path.stat()
    except OSError:
        return f"{path}: none"
    return f"{path}: {info.st_size} {info.st_mtime_ns}"


class ConfigCache:
    """The cached results of one workspace, read once per load; `save` writes what this load used."""

    def __init__(self, path: Path, fingerprint: str, files: dict[str, Any]) -> None:
        self.path = path
        self._fingerprint = fingerprint
        self._files = files  # config file as displayed -> {"key": ..., "data": ...}
        self._used: dict[str, Any] = {}
        self._put: set[str] = set()  # files whose entries this load made

    @classmethod
    def open(cls, workspace: Workspace) -> ConfigCache:
        """The workspace's cache; empty when there is none or it cannot be trusted."""
        path = workspace.state_dir / CACHE_FILE
        fingerprint = code_fingerprint()
        files: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            stored = json.loads(path.read_bytes())
            if (
                isinstance(stored, dict)
                and stored.get("format") == _FORMAT
                and stored.get("code") == fingerprint
                and isinstance(stored.get("files"), dict)
            ):
                files = stored["files"]
        return cls(path, fingerprint, files)

    def get(self, display: str, settings_file: bool, raw: bytes) -> Any:
        """What was stored for this file with exactly these bytes, or None."""
        entry = self._files.get(display)
        key = _key(settings_file, raw)
        if not isinstance(entry, dict) or entry.get("key") != key or "data" not in entry:
            return None
        self._used[display] = entry
        return entry["data"]

    def put(self, display: str, settings_file: bool, raw: bytes, data: Any) -> None:
        """Remember `data` for this file with these bytes, if JSON gives it back exactly (a date would come
        back as text: such a file is not cached)."""
        try:
            restored = json.loads(json.dumps(data))
            # `==` settles it for the plain types YAML gives (JSON keeps int, float and bool apart, and a
            # key or a tuple it changes is unequal); only a NaN, unequal to itself, needs the slow walk.
            exact = restored == data or same_value(restored, data)
        except (TypeError, ValueError):
            exact = False
        if exact:
            self._used[display] = {"key": _key(settings_file, raw), "data": data}
            self._put.add(display)

    def save(self, kept: Collection[str] = ()) -> None:
        """Write the entries of this load (files gone from config/ are dropped), if anything changed; a
        workspace that cannot be written keeps no cache.

        The files in `kept` keep the entries stored before: a load of an edit not yet written (maybe never:
        a dry run) read other bytes than those on disk.
        """
        used = dict(self._used)
        for display in kept:
            if display in self._files:
                used[display] = self._files[display]
            else:
                used.pop(display, None)
        if not (self._put - set(kept)) and used.keys() == self._files.keys():
            return
        import tempfile  # only when writing (it imports random)

        document = {"format": _FORMAT, "code": self._fingerprint, "files": used}
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=f".{CACHE_FILE}.", dir=self.path.parent)
            try:
                # json.dumps, not json.dump: dump streams through the pure-Python encoder (~50x slower)
                text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                os.replace(temporary, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise


def _key(settings_file: bool, raw: bytes) -> str:
    return f"{'settings' if settings_file else 'entries'}:{hashlib.sha256(raw).hexdigest()}"
