"""The config watcher: puts `ConfigChanged` on the daemon's queue when the content of config/ changes.

watchdog watches the config/ directory itself (recursively), not the files, so editors that save by writing
a new file and renaming it over the old one are seen like in-place writes. Events are debounced (an editor's
save is several events), then the config files are hashed: a touch, a rewrite with the same bytes or a change
to an editor's swap file puts nothing on the queue. Where inotify is unavailable (no more watches or
instances, some network file systems) watchdog's polling observer takes over. watchdog's handler only wakes
the watcher's own thread, which does the debouncing and hashing; the daemon's loop only reads the queue.
"""

from __future__ import annotations

import hashlib
import threading
import time
from queue import SimpleQueue
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from taskctl.config.loader import config_files
from taskctl.daemon.events import ConfigChanged, DaemonEvent

if TYPE_CHECKING:
    from taskctl.workspace import Workspace

_CONFIG_SUFFIXES = (".yaml", ".yml")
_IGNORED_EVENTS = {"opened", "closed_no_write"}  # reading a file changes nothing


def config_digest(workspace: Workspace) -> str:
    """A hash of every config file the loader reads (names and bytes): equal digests, equal configs."""
    digest = hashlib.sha256()
    for path in config_files(workspace):
        try:
            content = path.read_bytes()
        except OSError:  # removed between listing and reading: the next event brings the truth
            continue
        digest.update(workspace.relative(path).encode() + b"\0" + content + b"\0")
    return digest.hexdigest()


class _Nudge(FileSystemEventHandler):
    """watchdog's callback: note that something may have changed, nothing more."""

    def __init__(self, wake: threading.Event) -> None:
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _IGNORED_EVENTS:
            return
        paths = (str(event.src_path), str(event.dest_path))
        if event.is_directory or any(path.endswith(_CONFIG_SUFFIXES) for path in paths):
            self._wake.set()


class ConfigWatcher:
    """Watches config/ and puts `ConfigChanged(digest)` on `events` once per real change.

    Start it before loading the config the daemon will apply, so no change falls between the two (a change
    just before the load then causes one harmless extra reload).
    """

    def __init__(
        self,
        workspace: Workspace,
        events: SimpleQueue[DaemonEvent],
        *,
        debounce: float = 0.1,
        max_delay: float = 1.0,
        polling: bool = False,
        poll_interval: float = 1.0,
    ) -> None:
        self._workspace = workspace
        self._events = events
        self._debounce = debounce
        self._max_delay = max_delay
        self._force_polling = polling
        self._poll_interval = poll_interval
        self._wake = threading.Event()
        self._stopping = False
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None
        self._checked = threading.Condition()
        self.checks = 0  # how often the content was hashed after events (tests wait on it)
        self.digest = ""  # the digest last reported (or found at start)
        self.polling_reason: str | None = None  # why inotify is not used, if it is not

    def start(self) -> None:
        self.digest = config_digest(self._workspace)
        self._observer = self._start_observer()
        self._thread = threading.Thread(target=self._run, name="taskctl-config-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
        if self._thread is not None:
            self._thread.join()

    def wait_for_check(self, after: int, timeout: float) -> bool:
        """Wait until more than `after` checks were made; False on timeout."""
        with self._checked:
            return self._checked.wait_for(lambda: self.checks > after, timeout)

    def _start_observer(self) -> BaseObserver:
        folder = str(self._workspace.config_dir)
        if not self._force_polling:
            observer = Observer()
            try:
                observer.schedule(_Nudge(self._wake), folder, recursive=True)
                observer.start()
                return observer
            except OSError as error:  # inotify: out of watches or instances, or not supported here
                self.polling_reason = (
                    f"inotify is unavailable ({error}); polling config/ every {self._poll_interval:g} s"
                )
        else:
            self.polling_reason = "polling was asked for"
        polling = PollingObserver(timeout=self._poll_interval)
        polling.schedule(_Nudge(self._wake), folder, recursive=True)
        polling.start()
        return polling

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stopping:
                return
            self._settle()
            if self._stopping:
                return
            digest = config_digest(self._workspace)
            if digest != self.digest:
                self.digest = digest
                self._events.put(ConfigChanged(digest))
            with self._checked:
                self.checks += 1
                self._checked.notify_all()

    def _settle(self) -> None:
        """Wait until no event came for `debounce` seconds, or `max_delay` after the first one."""
        first = time.monotonic()
        while not self._stopping:
            self._wake.clear()
            remaining = min(self._debounce, first + self._max_delay - time.monotonic())
            if remaining <= 0 or not self._wake.wait(remaining):
                return
