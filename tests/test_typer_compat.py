"""typer adjustments: help and usage errors render as typer renders them, without Markdown or tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

RUN = textwrap.dedent(
    """
    import sys
    if sys.argv[1] == "preloaded":
        import rich.markdown, rich.traceback
    del sys.argv[1]
    from taskctl.cli import console_script
    try:
        console_script()
    finally:
        loaded = sorted(m for m in ("rich.markdown", "rich.traceback", "markdown_it") if m in sys.modules)
        print("loaded:", *loaded, file=sys.stderr)
    """
)


def taskctl(mode: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, mode, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args", [["--help"], ["validate", "--help"], ["sku", "--help"], ["validate", "--bogus"]], ids=" ".join
)
def test_help_and_usage_errors_render_as_with_the_real_classes_without_importing_them(
    args: list[str], tmp_path: Path
) -> None:
    light = taskctl("light", *args, cwd=tmp_path)
    real = taskctl("preloaded", *args, cwd=tmp_path)

    assert (light.returncode, light.stdout) == (real.returncode, real.stdout)
    assert light.stderr.replace("loaded:\n", "") == real.stderr.replace(
        "loaded: markdown_it rich.markdown rich.traceback\n", ""
    )
    assert light.stderr.splitlines()[-1] == "loaded:"
    assert "Usage:" in light.stdout + light.stderr


def test_the_stand_ins_give_the_real_classes_when_used() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from taskctl.cli import typer_compat; typer_compat.apply()\n"
            "import typer.rich_utils as r\n"
            "print(type(r.Markdown('**x**')).__module__, r.Traceback.from_exception.__qualname__)",
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.stdout.split() == ["rich.markdown", "Traceback.from_exception"]
