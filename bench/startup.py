"""Start-up time of the CLI, as a ratio to a bare `python -c "import typer"`.

Targets (issue 2): `taskctl --version` <= 1.3x, `taskctl validate` on the example <= 2.5x.

    python bench/startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_wall(argv: list[str], repeat: int, cwd: Path) -> float:
    # Measure as users run it: with bytecode caches written (this sandbox sets PYTHONDONTWRITEBYTECODE).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from taskctl.workspace import create_workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = create_workspace(Path(tmp) / "ws")
        py = sys.executable
        cases = {
            'python -c "import typer"': [py, "-c", "import typer"],
            # The floor for any command that reads the config: the libraries it cannot do without.
            "import typer,pydantic,yaml": [py, "-c", "import typer, pydantic, pydantic.fields, yaml"],
            "taskctl --version": [py, "-m", "taskctl", "--version"],
            "taskctl validate": [py, "-m", "taskctl", "validate"],
        }
        median_wall(cases["taskctl validate"], 2, ws.root)  # warm caches and .pyc files
        results = {name: median_wall(argv, args.repeat, ws.root) for name, argv in cases.items()}
    base = results['python -c "import typer"']
    targets = {"taskctl --version": 1.3, "taskctl validate": 2.5}
    print(f"{'command':<28} {'median':>9} {'ratio':>7} {'target':>7}")
    for name, seconds in results.items():
        target = targets.get(name)
        ratio = seconds / base
        verdict = "" if target is None else ("ok" if ratio <= target else "MISSED")
        shown = f"<={target}x" if target else ""
        print(f"{name:<28} {seconds * 1000:7.1f}ms {ratio:6.2f}x {shown:>7} {verdict}")


if __name__ == "__main__":
    main()
