"""The bench scripts stay runnable: each one's imports resolve against the current code (a bench is run by
hand, rarely, so a renamed function would otherwise go unnoticed until the figures are wanted)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize("script", sorted(BENCH.glob("*.py")), ids=lambda path: path.name)
def test_a_bench_script_imports_what_it_uses(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", [str(BENCH), *sys.path])
    namespace = runpy.run_path(str(script), run_name="bench_import_check")
    assert callable(namespace.get("main")) or script.name == "skudata.py"
