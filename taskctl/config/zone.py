"""The workspace zone for showing times, read from config/taskctl.yaml alone.

`history` and `show` must work while the rest of the config is broken, so they do not load it whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from taskctl.clock import machine_zone_name
from taskctl.errors import ConfigProblem
from taskctl.workspace import Workspace

SETTINGS_FILE = "taskctl.yaml"


def display_zone(workspace: Workspace) -> tuple[ZoneInfo, ConfigProblem | None]:
    """The zone of `timezone:` in config/taskctl.yaml, and None; or the machine's zone and why.

    No settings file, or one without `timezone:`, means the machine's zone (the documented default). A
    settings file that exists but cannot be used (a dangling link, a FIFO, a folder, too big, invalid YAML,
    an unknown zone) also gives the machine's zone, with the problem, so that the caller can say so rather
    than silently showing times in another zone. Reading is bounded like every config read.
    """
    path = workspace.config_dir / SETTINGS_FILE
    machine = ZoneInfo(machine_zone_name())
    if not path.exists() and not path.is_symlink():
        return machine, None
    display = f"config/{SETTINGS_FILE}"
    cached = _cached_zone(workspace, path, display)
    if cached is not None:
        return cached or machine, None
    from taskctl.config.yamlfile import read_yaml  # the YAML parser only when there is a file to read

    doc = read_yaml(path, display)
    if doc.problems:
        return machine, doc.problems[0]
    name = doc.data.get("timezone") if isinstance(doc.data, dict) else None
    if name is None:
        return machine, None
    try:
        return ZoneInfo(str(name)), None
    except (ZoneInfoNotFoundError, ValueError):
        message = f"'{name}' is not an IANA time zone (use a name like Europe/Berlin)"
        return machine, ConfigProblem(display, doc.line_of(("timezone",)), "timezone", message)


def _cached_zone(workspace: Workspace, path: Path, display: str) -> ZoneInfo | Literal[False] | None:
    """The zone of a settings file that a load validated with exactly these bytes (False: it sets none), or
    None when the config cache does not know these bytes."""
    from taskctl.config.cache import ConfigCache
    from taskctl.config.rawfile import UnreadableFile, read_config_bytes

    try:
        entry = ConfigCache.open(workspace).get(display, True, read_config_bytes(path))
        if entry is None:
            return None
        name = entry["settings"].get("timezone")
        return ZoneInfo(name) if name is not None else False
    except (UnreadableFile, KeyError, TypeError, AttributeError, ValueError, ZoneInfoNotFoundError):
        return None
