"""Start-up time of every command of the README's list, beside a bare `python -c "import typer"`.

Each command runs against a fresh copy of the example workspace (with one finished run and a few SKUs), the
way a user runs it: the installed `taskctl` script of this Python. The baseline and the commands are run in
turns, round after round, so that both sides see the same machine load; the table shows medians.

Targets: every command <= 250 ms and <= 2x the baseline; `taskctl --version` <= 1.3x. The reference row
"typer + yaml + 1 pydantic model" is what a command that validates the config cannot do without.

    .venv/bin/python bench/startup.py [--rounds 15] [--only history]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINE = 'python -c "import typer"'
# What any command that validates the config cannot do without: typer, PyYAML, and a pydantic model built and
# used once. Shown for reference (no target): the config commands' figures are read against it.
FLOOR = "typer + yaml + 1 pydantic model"
FLOOR_CODE = "import typer, yaml\nfrom pydantic import BaseModel\nclass M(BaseModel):\n    x: int = 0\nM(x=1)"
LIMIT_MS = 250.0
RATIO = 2.0
VERSION_RATIO = 1.3

# (label, arguments after `taskctl`); `{ws}` is the workspace, `{tmp}` a scratch folder, `{n}` the round.
COMMANDS: list[tuple[str, list[str]]] = [
    ("--version", ["--version"]),
    ("--help", ["--help"]),
    ("init", ["init", "{tmp}/init-{n}"]),
    ("validate", ["validate"]),
    ("schema", ["schema"]),
    ("thread list", ["thread", "list"]),
    ("thread show", ["thread", "show", "product_pages"]),
    ("thread add --dry-run", ["thread", "add", "extra", "--code", "print(1)", "--dry-run"]),
    ("thread run --dry-run", ["thread", "run", "summary", "--dry-run"]),
    ("process list", ["process", "list"]),
    ("process show", ["process", "show", "example"]),
    ("process edit --dry-run", ["process", "edit", "example", "--add-tag", "x", "--dry-run"]),
    ("upcoming", ["upcoming"]),
    ("run --dry-run", ["run", "example", "--dry-run"]),
    ("history", ["history"]),
    ("show", ["show", "example"]),
    ("logs", ["logs", "example"]),
    ("cancel (finished run)", ["cancel", "example"]),
    ("pack", ["pack", "example", "-o", "{tmp}/pack-{n}.zip"]),
    ("sku list", ["sku", "list", "--limit", "20"]),
    ("sku show", ["sku", "show", "B07-RED-M"]),
    ("sku stats", ["sku", "stats"]),
    ("deps status", ["deps", "status"]),
    ("prune --dry-run", ["prune", "--dry-run"]),
]

SKUS = """sku,name,base_sku,link,rating,review_count
B07-RED-M,Shirt red M,B07,https://shop.example/b07-red-m,4.5,120
B07-BLU-L,Shirt blue L,B07,https://shop.example/b07-blu-l,4.1,80
"""


def _command_line(python: str) -> list[str]:
    """The installed `taskctl` script beside this Python, else `python -m taskctl`."""
    script = Path(python).with_name("taskctl")
    return [str(script)] if script.exists() else [python, "-m", "taskctl"]


def _environment() -> dict[str, str]:
    # As users run it: bytecode caches written (some sandboxes set PYTHONDONTWRITEBYTECODE), no TASKCTL_ROOT.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "TASKCTL_ROOT")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _prepare(ws: Path, taskctl: list[str], env: dict[str, str]) -> None:
    """One finished run of the example and two SKUs, so that show, logs, pack and sku have data."""
    (ws / "skus.csv").write_text(SKUS, encoding="utf-8")
    for args in (["run", "example"], ["sku", "import", str(ws / "skus.csv")]):
        subprocess.run([*taskctl, *args], cwd=ws, env=env, check=True, capture_output=True)


def _time(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--only", action="append", default=[], help="Only commands with this label.")
    args = parser.parse_args()
    from taskctl.workspace import create_workspace

    python = sys.executable
    taskctl = _command_line(python)
    env = _environment()
    chosen = [(label, argv) for label, argv in COMMANDS if not args.only or label in args.only]
    with tempfile.TemporaryDirectory() as tmp:
        ws = create_workspace(Path(tmp) / "ws").root
        _prepare(ws, taskctl, env)
        baseline = [python, "-c", "import typer"]
        for _, argv in chosen:  # warm the bytecode caches and the page cache
            _time([*taskctl, *[a.format(ws=ws, tmp=tmp, n="warm") for a in argv]], ws, env)
        _time(baseline, ws, env)
        floor = [python, "-c", FLOOR_CODE]
        times: dict[str, list[float]] = {BASELINE: [], FLOOR: [], **{label: [] for label, _ in chosen}}
        for n in range(args.rounds):
            times[FLOOR].append(_time(floor, ws, env))
            for label, argv in chosen:
                times[BASELINE].append(_time(baseline, ws, env))
                filled = [a.format(ws=ws, tmp=tmp, n=n) for a in argv]
                times[label].append(_time([*taskctl, *filled], ws, env))
            for path in Path(tmp).glob("init-*"):
                shutil.rmtree(path, ignore_errors=True)
    base = statistics.median(times[BASELINE])
    print(f"{'command':<34} {'median':>9} {'ratio':>7}  target")
    print(f"{BASELINE:<34} {base * 1000:7.1f}ms {1.0:6.2f}x")
    floor_time = statistics.median(times[FLOOR])
    print(f"{FLOOR:<34} {floor_time * 1000:7.1f}ms {floor_time / base:6.2f}x  (reference)")
    missed = 0
    for label, _ in chosen:
        seconds = statistics.median(times[label])
        ratio = seconds / base
        limit = VERSION_RATIO if label == "--version" else RATIO
        ok = ratio <= limit and seconds * 1000 <= LIMIT_MS
        missed += not ok
        verdict = "ok" if ok else "MISSED"
        target = f"<={limit}x, <={LIMIT_MS:.0f}ms"
        print(f"taskctl {label:<26} {seconds * 1000:7.1f}ms {ratio:6.2f}x  {target:<18} {verdict}")
    load = os.getloadavg()[0]
    print(f"\n{args.rounds} rounds; load average {load:.1f} on {os.cpu_count()} cores; {missed} missed")


if __name__ == "__main__":
    main()
