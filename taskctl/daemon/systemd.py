"""systemd: the notify socket protocol (what `sd_notify` sends) and the unit file for a workspace.

Under `Type=notify`, systemd passes `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket); the
daemon sends newline-separated `KEY=VALUE` datagrams to it: `READY=1` once it runs, `RELOADING=1` with
`MONOTONIC_USEC` when a reload starts (then `READY=1` again), `STOPPING=1` on shutdown, `STATUS=` lines for
`systemctl status`, and `WATCHDOG=1` every `watchdog_interval()` seconds when the unit sets `WatchdogSec=`.
Without systemd every call does nothing.
"""

from __future__ import annotations

import math
import os
import pwd
import shutil
import socket
import sys
import time
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskctl.config import LoadedConfig
    from taskctl.workspace import Workspace

_SYSTEMD_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
WATCHDOG_SEC = 180  # the unit's WatchdogSec: the loop wakes at least once a minute, so pings come in time
STOP_MARGIN = 15  # seconds TimeoutStopSec leaves after the shutdown grace and the kill grace


def watchdog_interval(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """How often to send WATCHDOG=1, in seconds (half the watchdog timeout), or None if none is asked for."""
    text = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if owner and owner != str(pid if pid is not None else os.getpid()):
        return None  # the watchdog is meant for another process
    if not text.isdigit() or int(text) == 0:
        return None
    return int(text) / 2 / 1_000_000


class SystemdNotifier:
    """Sends state changes to systemd's notify socket; a no-op when there is none."""

    def __init__(self, address: str | None, watchdog: float | None = None) -> None:
        self.address = address or None
        self.watchdog_interval = watchdog
        self._socket: socket.socket | None = None

    @classmethod
    def from_environment(cls, environ: MutableMapping[str, str] | None = None) -> SystemdNotifier:
        """The notifier systemd asked for, taking its variables out of `environ` (default: this process's),
        so that the scripts the daemon runs do not inherit them and talk to systemd in its name."""
        environ = os.environ if environ is None else environ
        notifier = cls(environ.get("NOTIFY_SOCKET"), watchdog_interval(environ))
        for name in _SYSTEMD_VARIABLES:
            environ.pop(name, None)
        return notifier

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send `fields` (`KEY=VALUE` each) as one datagram; False if there is no socket or it failed."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.sendto("\n".join(fields).encode(), target)
        except OSError:  # systemd went away or the socket is not ours: never a reason to stop scheduling
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """The daemon runs (at start, and after each reload)."""
        return self.notify("READY=1", *_status(status))

    def reloading(self, status: str | None = None, monotonic_usec: int | None = None) -> bool:
        """A reload starts; send `ready()` when it is done (or rejected)."""
        if monotonic_usec is None:
            monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}", *_status(status))

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown has begun."""
        return self.notify("STOPPING=1", *_status(status))

    def status(self, text: str) -> bool:
        """A one-line status for `systemctl status`."""
        return self.notify(*_status(text))

    def watchdog(self) -> bool:
        """Still alive: send every `watchdog_interval` seconds when it is set."""
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _status(text: str | None) -> list[str]:
    return [] if text is None else ["STATUS=" + " ".join(text.split())]


# --- the unit file --------------------------------------------------------------------------------


def unit_name(root: Path) -> str:
    """`taskctl-<folder>.service`, the folder name reduced to what unit names allow."""
    name = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "-" for c in root.name).strip("-.")
    return f"taskctl-{name or 'workspace'}.service"


def systemd_unit(
    root: Path,
    command: Sequence[str],
    *,
    user_unit: bool,
    run_as: str | None,
    shutdown_grace: float,
    kill_grace: float,
) -> str:
    """The unit file that runs `command` (the daemon of the workspace at `root`) under systemd.

    `user_unit`: for `systemctl --user` (no `User=`, wanted by `default.target`); `run_as`: the account a
    system unit runs as. `TimeoutStopSec` leaves room for the shutdown grace, the kill grace and a margin.
    """
    stop_timeout = math.ceil(shutdown_grace + kill_grace + STOP_MARGIN)
    name = unit_name(root)
    if user_unit:
        install = f"taskctl systemd-unit --user > ~/.config/systemd/user/{name}"
        enable = f"systemctl --user daemon-reload && systemctl --user enable --now {name}"
    else:
        install = f"taskctl systemd-unit | sudo tee /etc/systemd/system/{name} >/dev/null"
        enable = f"sudo systemctl daemon-reload && sudo systemctl enable --now {name}"
    lines = [
        f"# {name}: the taskctl daemon for {root}",
        f"# Install: {install}",
        f"#          {enable}",
        "[Unit]",
        f"Description=taskctl daemon for {_specifiers_escaped(str(root))}",
        *([] if user_unit else ["Wants=network-online.target"]),
        "After=" + ("time-sync.target" if user_unit else "network-online.target time-sync.target"),
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=" + " ".join(_exec_argument(argument) for argument in command),
        "ExecReload=kill -HUP $MAINPID",
        f"WorkingDirectory={_specifiers_escaped(str(root))}",
        *([f"User={run_as}"] if run_as and not user_unit else []),
        "Environment=PYTHONUNBUFFERED=1",
        "KillMode=mixed",
        f"TimeoutStopSec={stop_timeout}",
        "Restart=on-failure",
        "RestartSec=5",
        f"WatchdogSec={WATCHDOG_SEC}",
        "",
        "[Install]",
        "WantedBy=" + ("default.target" if user_unit else "multi-user.target"),
    ]
    return "\n".join(lines) + "\n"


def _specifiers_escaped(text: str) -> str:
    return text.replace("%", "%%")


def _exec_argument(argument: str) -> str:
    """One ExecStart argument: `%` and `$` escaped, quoted when it holds spaces, quotes or backslashes."""
    text = _specifiers_escaped(argument).replace("$", "$$")
    if any(c.isspace() or c in "\"'\\;" for c in text) or not text:
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def unit_for(workspace: Workspace, config: LoadedConfig, *, user_unit: bool) -> str:
    """The unit for the daemon of `workspace`: this installation's taskctl, run as the workspace's owner."""
    root = workspace.root.resolve()
    return systemd_unit(
        root,
        [*taskctl_command(), "--root", str(root), "daemon"],
        user_unit=user_unit,
        run_as=None if user_unit else _owner_of(root),  # root needs no User= line
        shutdown_grace=config.settings.daemon.shutdown_grace,
        kill_grace=config.settings.defaults.kill_grace,
    )


def taskctl_command() -> list[str]:
    """How to start this installation's taskctl by absolute path (the console script, or `python -m`)."""
    script = Path(sys.argv[0])
    if script.name == "taskctl" and script.is_file():
        return [str(script.absolute())]
    found = shutil.which("taskctl")
    if found:
        return [str(Path(found).absolute())]
    return [sys.executable, "-m", "taskctl"]


def _owner_of(path: Path) -> str | None:
    try:
        owner = pwd.getpwuid(path.stat().st_uid).pw_name
    except (KeyError, OSError):
        return None
    return None if owner == "root" else owner
