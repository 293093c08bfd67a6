"""The `taskctl` command line: thin commands that parse, call one library function, and print.

`console_script` is the `taskctl` command. It imports the app itself, so that a Ctrl-C while the libraries
load (the first few hundred milliseconds of any command) ends with one word and exit 130, as one later does.
The garbage collector is off until a command runs (the app's `invoke` turns it on): loading typer and rich
creates objects by the hundred thousand and no cycles worth collecting, and the collections it triggered
were ~15 ms of `taskctl --help`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys


def console_script() -> None:
    """The `taskctl` command: the app, with Ctrl-C and a closed stdout handled everywhere."""
    gc.disable()
    try:
        from taskctl.cli.main import run_app

        run_app()
    except KeyboardInterrupt:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        drop_stdout()
        sys.exit(0)
    except SystemExit:
        _flush_stdout()
        raise


def _flush_stdout() -> None:
    """Flush now what Python would flush at exit, where a closed pipe could no longer be handled."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        drop_stdout()
        sys.exit(0)
    except (OSError, ValueError):
        pass


def drop_stdout() -> None:
    """Send what is left of stdout nowhere: its reader has gone (`taskctl logs X | head -1`).

    A closed pipe ends a command quietly with exit 0, as it ends any filter; without this, the output still
    buffered would be reported as an error when Python flushes it at exit.
    """
    with contextlib.suppress(OSError, ValueError, AttributeError):  # not a real file (a test's stream)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
