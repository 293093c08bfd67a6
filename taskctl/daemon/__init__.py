"""The daemon: one loop that turns schedules into runs, and the pure pieces around it.

- `scheduler`: which slots are due, which were missed, when to wake (`Scheduler.tick(now)`); pure.
- `plan`: what a reload would change, and the record of the config the daemon applied.
- `systemd`: the notify socket protocol and the unit file.
- `lock`: one daemon per workspace.
- `watch`: the config watcher and the other events the loop reads from its queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from taskctl.workspace import Workspace


def daemon_dir(workspace: Workspace) -> Path:
    """`.taskctl/daemon/`: the daemon's lock and its record of the config it applied."""
    return workspace.state_dir / "daemon"
