"""`taskctl notify ...`: the webhook targets of config/taskctl.yaml."""

from __future__ import annotations

import typer

from taskctl.cli import common, complete

notify_app = typer.Typer(
    help="Webhook notifications: try the targets of config/taskctl.yaml.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(notify_app, name="notify")


@notify_app.command("test")
def test_target(
    target: str = typer.Argument(
        ...,
        help="A target named under 'notify:' in config/taskctl.yaml.",
        autocompletion=complete.notify_targets,
    ),
    event: str = typer.Option(
        "test", "--event", help="The event the sample claims: test, start, success, ..."
    ),
    json_output: bool = common.JSON_OPTION,
) -> None:
    """POST a sample notification to a target once and report the HTTP status; exits 1 unless it got a 2xx.

    Example:

        taskctl notify test ops
        taskctl notify test ops --event final_failure
    """
    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.notify import send_test

    outcome = send_test(common.load(), target, event, SYSTEM_CLOCK.now())
    if json_output:
        common.print_json(outcome.to_json())
    elif outcome.delivered:
        typer.echo(outcome.summary())
    if not outcome.delivered:
        typer.echo(f"error: {outcome.summary()}.", err=True)
        raise typer.Exit(1)
