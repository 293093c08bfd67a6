"""The YAML config: pydantic models, loading and merging with file:line errors, and the writer for edits.

Names are imported on first use, so that a command that only needs `display_zone` does not pay for pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskctl.config.loader import LoadedConfig, PendingChanges, load_config
    from taskctl.config.models import (
        CatchUp,
        OnFailure,
        Overlap,
        ProcessConfig,
        Settings,
        ThreadConfig,
        ThreadType,
    )
    from taskctl.config.zone import display_zone

_HOMES = {
    "LoadedConfig": "loader",
    "PendingChanges": "loader",
    "load_config": "loader",
    "CatchUp": "models",
    "OnFailure": "models",
    "Overlap": "models",
    "ProcessConfig": "models",
    "Settings": "models",
    "ThreadConfig": "models",
    "ThreadType": "models",
    "display_zone": "zone",
}

__all__ = [
    "CatchUp",
    "LoadedConfig",
    "OnFailure",
    "Overlap",
    "PendingChanges",
    "ProcessConfig",
    "Settings",
    "ThreadConfig",
    "ThreadType",
    "display_zone",
    "load_config",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'taskctl.config' has no attribute '{name}'")
    return getattr(importlib.import_module(f"taskctl.config.{home}"), name)
