"""What every view needs: the workspace, the serve options, the clock, and the config, reloaded when its files
change (a config of a thousand processes takes longer to load than a page may take to answer)."""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from taskctl.clock import SYSTEM_CLOCK, Clock
from taskctl.errors import ConfigError
from taskctl.workspace import Workspace

if TYPE_CHECKING:
    from taskctl.config import LoadedConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470
DEFAULT_MAX_UPLOAD = 100 * 1024 * 1024  # bytes in one request body: a million-row SKU CSV is ~70 MB


@dataclass(frozen=True)
class ServeOptions:
    """How `taskctl serve` was started."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None  # every request must carry it when set
    max_upload: int = DEFAULT_MAX_UPLOAD


_Signature = tuple[tuple[str, int, int, int], ...]


class Site:
    """The workspace served, shared by every request (thread-safe: the config is immutable once loaded)."""

    def __init__(self, workspace: Workspace, options: ServeOptions, clock: Clock = SYSTEM_CLOCK) -> None:
        self.workspace = workspace
        self.options = options
        self.clock = clock
        self.secret = secrets.token_bytes(32)  # signs nothing that must survive a restart
        self._lock = threading.Lock()
        self._signature: _Signature | None = None
        self._config: LoadedConfig | None = None
        self._error: ConfigError | None = None
        self._zone: ZoneInfo | None = None

    def now(self) -> datetime:
        return self.clock.now()

    def config(self) -> LoadedConfig:
        """The config on disk (raises ConfigError, as the CLI does, when it is invalid)."""
        config, error = self.config_or_error()
        if error is not None:
            raise error
        assert config is not None
        return config

    def config_or_error(self) -> tuple[LoadedConfig | None, ConfigError | None]:
        """The config on disk, or why it cannot be loaded; loaded again only when its files changed."""
        from taskctl.config import display_zone, load_config

        signature = self._config_signature()
        with self._lock:
            if signature != self._signature:
                try:
                    self._config, self._error = load_config(self.workspace, now=self.now()), None
                except ConfigError as error:
                    self._config, self._error = None, error
                self._zone = display_zone(self.workspace)[0]
                self._signature = signature
            return self._config, self._error

    @property
    def zone(self) -> ZoneInfo:
        """The workspace zone (of the run folder names), in which pages show instants."""
        self.config_or_error()
        assert self._zone is not None
        return self._zone

    def _config_signature(self) -> _Signature:
        """What the loaded config depends on: the config files, and the thread folders it checks."""
        from taskctl.config.loader import config_files

        paths: list[Path] = config_files(self.workspace)
        if self.workspace.threads_dir.is_dir():
            paths.extend(sorted(self.workspace.threads_dir.iterdir()))
        found = []
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                found.append((str(path), 0, 0, 0))
                continue
            found.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(found)
