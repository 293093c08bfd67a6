"""Per-thread environments: the time to build one with a small local package, uv against `python -m venv` +
pip (interleaved, repeated, fresh workspaces), and the time a second thread with identical requirements takes
(it must reuse the first one's environment: near zero).

Offline: the package is a wheel made here, installed with --no-index / find-links.

    python bench/venv.py [REPEATS]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskctl.config.models import ThreadConfig  # noqa: E402
from taskctl.deps import Installer, ensure_environment, find_uv  # noqa: E402
from taskctl.workspace import Workspace  # noqa: E402
from tests.wheels import make_wheel  # noqa: E402


def offline(wheels: Path, cache: Path) -> None:
    os.environ.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheels),
        UV_NO_CONFIG="1",
        UV_OFFLINE="1",
        UV_FIND_LINKS=str(wheels),
        UV_CACHE_DIR=str(cache),
    )
    os.environ.pop("PIP_CONSTRAINT", None)


def build(root: Path, installer: Installer) -> tuple[float, float]:
    """Seconds to build the first thread's environment, and for an identical second thread to get it."""
    workspace = Workspace(root)
    (root / "config").mkdir(parents=True)
    thread = ThreadConfig(code="pass", requirements=["tinypkg==1.0"])
    begin = time.perf_counter()
    first = ensure_environment(workspace, "first", thread, lambda line: None, installer)
    built = time.perf_counter() - begin
    begin = time.perf_counter()
    second = ensure_environment(workspace, "second", thread, lambda line: None, installer)
    reused = time.perf_counter() - begin
    assert first == second
    return built, reused


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if find_uv() is None:
        sys.exit("uv is not installed: pip install 'taskctl[uv]'")
    samples: dict[str, list[float]] = {"uv": [], "pip": [], "reuse": []}
    with tempfile.TemporaryDirectory() as temp:
        wheels = Path(temp) / "wheels"
        wheels.mkdir()
        make_wheel(wheels, "tinypkg", "1.0")
        offline(wheels, Path(temp) / "uv-cache")
        for repeat in range(repeats):
            for installer in (Installer.UV, Installer.PIP):
                built, reused = build(Path(temp) / f"{installer}-{repeat}", installer)
                samples[str(installer)].append(built)
                samples["reuse"].append(reused)
            print(
                f"[{repeat + 1}/{repeats}] uv {samples['uv'][-1]:.2f}s, venv + pip {samples['pip'][-1]:.2f}s"
            )
    uv, pip = statistics.median(samples["uv"]), statistics.median(samples["pip"])
    print(f"build, uv        : median {uv:6.2f}s")
    print(f"build, venv + pip: median {pip:6.2f}s")
    print(f"venv + pip / uv  : {pip / uv:.1f}x")
    reuse = statistics.median(samples["reuse"]) * 1000
    print(f"identical requirements, second thread: median {reuse:.1f} ms (target: near zero, reused)")


if __name__ == "__main__":
    main()
