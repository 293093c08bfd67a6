"""`taskctl run --detach`: a run in a background process, which reports the run's id once the run exists.

The background process creates the run itself (so the run's recorded runner is the process that executes it,
and no reader can mistake a run waiting to be picked up for an abandoned one), writes the id on its stdout,
detaches its stdout and stderr, and runs the chain. The starting process prints the id, or the error the
background process gave, and exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from taskctl import inherited_env
from taskctl.errors import TaskctlError
from taskctl.runs import RunId, RunRecord
from taskctl.workspace import Workspace

NOTIFY_WAIT = 60.0  # seconds a background run waits for its webhook deliveries (nobody waits for it)


def start_detached(workspace: Workspace, name: str, force: bool = False) -> RunId:
    """Start a run of `name` in a new background process; its id once the run exists. Raises TaskctlError
    with the background process's reason when it could not create the run."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = inherited_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    argv = [sys.executable, "-m", "taskctl.runner.detached", str(workspace.root), name]
    child = subprocess.Popen(
        argv + (["--force"] if force else []),
        cwd=workspace.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert child.stdout is not None and child.stderr is not None
    line = child.stdout.readline().decode().strip()
    child.stdout.close()
    if line:
        child.stderr.close()
        return RunId(line)
    error = child.stderr.read().decode(errors="replace").strip()
    child.wait()
    raise TaskctlError(error or f"the background run of '{name}' could not start (exit {child.returncode}).")


def main(args: list[str]) -> int:
    """The background process: `python -m taskctl.runner.detached ROOT NAME [--force]`."""
    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.config import load_config
    from taskctl.runner.process import CancelToken, cancel_on_signals
    from taskctl.runner.service import RunRequest, open_service

    root, name = Path(args[0]), args[1]
    workspace = Workspace(root)
    token = CancelToken()
    try:
        with cancel_on_signals(token):
            definition = load_config(workspace, now=SYSTEM_CLOCK.now()).resolved(name)
            with open_service(workspace) as service:
                service.run(definition, RunRequest(force="--force" in args), token, on_created=_announce)
                service.wait_for_notifications(NOTIFY_WAIT, token)
    except TaskctlError as exc:
        print(exc.message, file=sys.stderr, flush=True)
        return 1
    finally:
        token.close()
    return 0


def _announce(record: RunRecord) -> None:
    """Tell the starting process the run id, then let go of its pipes."""
    print(record.id, flush=True)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
