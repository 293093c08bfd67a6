"""`taskctl deps ...`: the per-thread Python environments under .taskctl/venvs/."""

from __future__ import annotations

import typer

from taskctl.cli import common, complete

deps_app = typer.Typer(
    help="Per-thread Python environments: threads with requirements get their own.", no_args_is_help=True
)

THREADS_ARGUMENT = typer.Argument(
    None, metavar="[THREAD...]", help="Default: every thread.", autocompletion=complete.threads
)
INSTALLER_OPTION = typer.Option(
    None, "--installer", help="uv or pip (default: uv if installed, else pip; or $TASKCTL_INSTALLER)."
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(deps_app, name="deps")


@deps_app.command("install")
def install(
    threads: list[str] | None = THREADS_ARGUMENT,
    installer: str | None = INSTALLER_OPTION,
) -> None:
    """Build the missing environments of threads with requirements.

    The installer's output goes to stderr; exits 1 with the installer's message if an install fails.

    Example:

        taskctl deps install
        taskctl deps install amazon_reviews --installer pip
    """
    from taskctl.deps import install_threads

    results = install_threads(common.load(), threads, lambda line: typer.echo(line, err=True), installer)
    for result in results:
        done = f"built in {result.seconds:.1f}s" if result.built else "up to date"
        typer.echo(f"{result.thread}: {done} ({result.environment.folder})")
    if not results:
        typer.echo("no thread has requirements")


@deps_app.command("status")
def status(
    threads: list[str] | None = THREADS_ARGUMENT,
    json_output: bool = common.JSON_OPTION,
) -> None:
    """Show each thread's environment, and its requirements against the installed versions.

    Each requirement is ok, missing or outdated; a thread whose requirements changed since its environment was
    built shows what that previous environment has.

    Example:

        taskctl deps status
        taskctl deps status --json
    """
    from taskctl.deps import deps_status

    found = deps_status(common.load(), threads)
    if json_output:
        common.print_json({"threads": [s.to_json() for s in found]})
        return
    rows = [
        [s.thread, s.state, s.environment.key, r.requested, r.installed or "-", r.state]
        for s in found
        for r in s.requirements
    ]
    headers = ["thread", "environment", "key", "requested", "installed", "state"]
    common.print_table(rows, headers, empty="no thread has requirements")


@deps_app.command("prune")
def prune(
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed; remove nothing."),
    json_output: bool = common.JSON_OPTION,
) -> None:
    """Remove the environments that no thread of the config uses any more (and builds that never finished).

    Example:

        taskctl deps prune --dry-run
    """
    from taskctl.deps import prune_environments
    from taskctl.units import format_size

    removed = prune_environments(common.load(), dry_run)
    if json_output:
        common.print_json(
            {"dry_run": dry_run, "removed": [{"path": str(e.path), "size": e.size} for e in removed]}
        )
        return
    for environment in removed:
        typer.echo(f"{environment.path}  {format_size(environment.size)}")
    verb = "would remove" if dry_run else "removed"
    total = format_size(sum(e.size for e in removed))
    typer.echo(f"{verb} {len(removed)} environment(s), {total}")
