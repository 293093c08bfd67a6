"""What the web tests share: a small workspace, the app on it driven in process, the CLI to compare with."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from taskctl.cli.main import app as cli_app
from taskctl.clock import SYSTEM_CLOCK
from taskctl.config import load_config
from taskctl.runner import open_service
from taskctl.runs import RunRecord
from taskctl.skus import SkuTable
from taskctl.workspace import Workspace
from tests.conftest import write

THREADS = """\
# Threads of the web tests.
threads:
  hello:
    code: print('hi there')
    tags: [greeting]
  broken:
    command: ['sh', '-c', 'echo oops; exit 3']
  long:
    command: ['sleep', '30']
  scripted:
    script: main.py
"""

PROCESSES = """\
# Processes of the web tests: comments here must survive every edit.
processes:
  greet:  # says hello
    threads: [hello]
    schedule:
      - 2030-01-07 09:00   # a Monday
    tags: [daily]

  both:
    threads: [hello, broken]
"""

SKUS = [
    ("A-1", "Apple red", "A", 4.5, 10),
    ("A-2", "Apple green", "A", 3.0, 4),
    ("B-1", "Banana", "B", None, None),
    ("C/1", "Cherry with a slash", "C", 5.0, 1),
]


def make_workspace(root: Path) -> Workspace:
    """A workspace with three threads, two processes and four SKUs."""
    write(root / "threads" / "scripted" / "main.py", "print('scripted')\n")
    write(root / "config" / "taskctl.yaml", "timezone: Europe/Berlin\ndefaults: {kill_grace: 0.3}\n")
    write(root / "config" / "threads.yaml", THREADS)
    write(root / "config" / "processes.yaml", PROCESSES)
    ws = Workspace(root)
    with SkuTable.open(ws.sku_db) as table:
        for sku, name, base, rating, count in SKUS:
            table.add(sku, name, base, "", rating, count)
    return ws


def run_now(ws: Workspace, name: str) -> RunRecord:
    """Run `name` to its end, in this process (as `taskctl run NAME` would)."""
    definition = load_config(ws, now=SYSTEM_CLOCK.now()).resolved(name)
    with open_service(ws) as service:
        return service.run(definition)


def cli(ws: Workspace, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli_app, ["--root", str(ws.root), *args])
    return result.exit_code, result.stdout, result.stderr


def cli_json(ws: Workspace, *args: str) -> Any:
    code, out, err = cli(ws, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def wait_until(check: Any, timeout: float = 60.0) -> Any:
    """Poll `check()` until it returns something true (generous: the machine may be loaded)."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)
