"""The YAML config: pydantic models, loading and merging with file:line errors, and the writer for edits."""

from taskctl.config.loader import LoadedConfig, load_config
from taskctl.config.models import (
    CatchUp,
    OnFailure,
    Overlap,
    ProcessConfig,
    Settings,
    ThreadConfig,
    ThreadType,
)

__all__ = [
    "CatchUp",
    "LoadedConfig",
    "OnFailure",
    "Overlap",
    "ProcessConfig",
    "Settings",
    "ThreadConfig",
    "ThreadType",
    "load_config",
]
