"""The daemon's commands: `daemon`, `status`, `plan` and `systemd-unit`."""

from __future__ import annotations

import typer

from taskctl.cli import common


def daemon() -> None:
    """Run the scheduler in the foreground: fire schedules, hot-reload config/, keep status.

    One daemon runs per workspace (a second one exits 1). It logs one line per event to stderr (journald
    understands its priorities). Editing config/ applies the change within a second, or keeps the running
    config and shows the error in `taskctl status`; SIGHUP reloads too. SIGTERM or Ctrl-C stops scheduling,
    lets running runs finish within `daemon.shutdown_grace` (then cancels them) and exits 0. Under systemd,
    use the unit `taskctl systemd-unit` prints.

    Example:

        taskctl daemon
        taskctl --root /srv/shop daemon
    """
    from taskctl.daemon.runtime import run_daemon

    raise typer.Exit(run_daemon(common.workspace()))


def status(
    tags: list[str] | None = typer.Option(
        None, "--tag", help="Only the runs and fires of what carries this tag (repeatable: any of them)."
    ),
    json: bool = common.JSON_OPTION,
) -> None:
    """Show the daemon (pid, uptime, config revision, last reload and its error), the runs in progress with
    their thread, progress and elapsed time, the next 5 fires, and the missed slots and failed runs of the
    last 24 hours.

    Exits 0 whether or not a daemon runs (`daemon.running` in --json says which).

    Example:

        taskctl status
        taskctl status --tag amazon --json
    """
    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.daemon.status import current_status, render_status, status_json

    report = current_status(common.workspace(), SYSTEM_CLOCK.now(), tags or ())
    if json:
        common.print_json(status_json(report))
        return
    for line in render_status(report):
        typer.echo(line)


def plan(json: bool = common.JSON_OPTION) -> None:
    """Show what the daemon would change if it reloaded the config on disk now.

    Compares the config the running daemon applied with the one in config/: processes added, removed or
    changed (and which keys), changed schedules, each process's next run before -> after, changed threads and
    settings. The daemon logs the same lines when it reloads. An invalid config is reported as by
    `taskctl validate` (exit 1).

    Example:

        taskctl plan
        taskctl plan --json
    """
    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.daemon.plan import current_plan, plan_json, render_plan

    found = current_plan(common.workspace(), common.load(), SYSTEM_CLOCK.now())
    if json:
        common.print_json(plan_json(found))
        return
    for line in render_plan(found):
        typer.echo(line)


def systemd_unit(
    user: bool = typer.Option(False, "--user", help="A unit for `systemctl --user`, run as you."),
) -> None:
    """Print a systemd unit that runs the daemon of this workspace.

    The unit starts this installation's taskctl by its absolute path with `--root` set to the workspace
    (Type=notify, reload with SIGHUP, a stop timeout above `daemon.shutdown_grace`, restart on failure). The
    comment at its top says where to put it and how to enable it.

    Example:

        taskctl systemd-unit | sudo tee /etc/systemd/system/taskctl-shop.service
        taskctl systemd-unit --user > ~/.config/systemd/user/taskctl-shop.service
    """
    from taskctl.daemon.systemd import unit_for

    typer.echo(unit_for(common.workspace(), common.load(), user_unit=user), nl=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("daemon")(daemon)
    app.command("status")(status)
    app.command("plan")(plan)
    app.command("systemd-unit")(systemd_unit)
