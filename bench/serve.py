"""`taskctl serve` on a big workspace: 1,000,000 runs in the index and 1,000,000 SKUs. Every page and API call
must answer in <= 100 ms of server time (from the request reaching the app to the last byte of its answer).

The requests go through the ASGI app in process (no network), interleaved round-robin over the endpoints and
repeated; p50 and p99 are printed per endpoint beside the target, and, for reference, the bare library call
each listing is built on, timed in the same rounds.

    python bench/serve.py [--runs 1000000] [--skus 1000000] [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskctl.clock import SYSTEM_CLOCK  # noqa: E402
from taskctl.config import load_config  # noqa: E402
from taskctl.runner import open_service  # noqa: E402
from taskctl.runs import utc_text  # noqa: E402
from taskctl.skus import SkuQuery, SkuTable  # noqa: E402
from taskctl.store import Store  # noqa: E402
from taskctl.workspace import Workspace  # noqa: E402

PROCESSES = 50
TARGET_MS = 100.0
STATUSES = ["succeeded"] * 90 + ["failed"] * 6 + ["timed_out", "cancelled", "interrupted", "skipped"]
WORDS = ["shirt", "kettle", "lamp", "chair", "table", "mug", "towel", "sock", "boot", "cap", "scarf", "glove"]


def make_workspace(root: Path) -> Workspace:
    (root / "config").mkdir(parents=True)
    (root / "threads").mkdir()
    threads = ["threads:", "  work:", "    code: print('working')", "    tags: [bench]"]
    processes = ["processes:"]
    for index in range(PROCESSES):
        processes += [
            f"  p-{index:03d}:",
            "    threads: [work]",
            "    schedule: ['*/15 * * * *', daily at 06:30]",
        ]
    (root / "config" / "taskctl.yaml").write_text("timezone: Europe/Berlin\n")
    (root / "config" / "threads.yaml").write_text("\n".join(threads) + "\n")
    (root / "config" / "processes.yaml").write_text("\n".join(processes) + "\n")
    return Workspace(root)


def fill_runs(ws: Workspace, runs: int) -> None:
    """`runs` index rows, one a minute up to now, over the processes (as history_scale.py makes them)."""
    rng = random.Random(7)
    now = SYSTEM_CLOCK.now().replace(microsecond=0)
    start = now - timedelta(minutes=runs + 5)
    rows = []
    for index in range(runs):
        process = f"p-{index % PROCESSES:03d}"
        started = start + timedelta(minutes=index)
        stamp = started.strftime("%Y-%m-%d_%H-%M-%S")
        rows.append(
            (f"{process}/{stamp}", process, "schedule", rng.choice(STATUSES), utc_text(started), 12.5, 0)
        )
    with Store(ws.state_db) as store, store.transaction() as tx:
        tx.execute_many(
            "INSERT INTO runs (id, process, trigger, status, started, duration, has_folder) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def fill_skus(ws: Workspace, count: int, folder: Path) -> None:
    rng = random.Random(11)
    csv = folder / "skus.csv"
    with csv.open("w", encoding="utf-8") as out:
        out.write("sku,name,base_sku,link,rating,review_count\n")
        for index in range(count):
            words = " ".join(rng.sample(WORDS, 3))
            rating = "" if index % 10 == 0 else f"{rng.randint(0, 50) / 10}"
            out.write(
                f"SKU-{index:07d},{words} {index},B-{index // 20:06d},,{rating},{rng.randint(0, 900)}\n"
            )
    with SkuTable.open(ws.sku_db) as table:
        table.import_csv(csv)
    csv.unlink()


class Timed:
    """The app, timing each request from its start to the last byte of its answer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        begin = time.perf_counter()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.last = time.perf_counter() - begin

        await self.app(scope, receive, timed_send)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--skus", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    from starlette.testclient import TestClient

    from taskctl.web.app import create_app
    from taskctl.web.site import ServeOptions, Site

    with tempfile.TemporaryDirectory() as temp:
        ws = make_workspace(Path(temp) / "ws")
        begin = time.perf_counter()
        definition = load_config(ws, now=SYSTEM_CLOCK.now()).resolved("p-001")
        with open_service(ws) as service:
            real = service.run(definition)  # one run with a folder, for the run page, its log and download
        fill_runs(ws, args.runs)
        print(f"indexed {args.runs:,} runs over {PROCESSES} processes", end="; ", flush=True)
        fill_skus(ws, args.skus, Path(temp))
        print(f"imported {args.skus:,} SKUs ({time.perf_counter() - begin:.0f}s to set up)")
        middle = f"SKU-{args.skus // 2:07d}"

        timed = Timed(create_app(Site(ws, ServeOptions())))
        client = TestClient(timed, base_url="http://127.0.0.1:8470")
        run, sku = real.id, middle
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "/", {}),
            ("GET", "/api/v1/status", {}),
            ("GET", "/processes", {}),
            ("GET", "/api/v1/processes/p-001", {}),
            ("GET", "/processes/p-001", {}),
            ("GET", "/threads", {}),
            ("GET", "/threads/work", {}),
            ("GET", "/runs", {}),
            ("GET", "/api/v1/runs", {"params": {"process": "p-007", "status": "failed"}}),
            ("GET", "/api/v1/runs", {"params": {"tag": "bench", "since": "1d"}}),
            ("GET", f"/runs/{run}", {}),
            ("GET", f"/api/v1/runs/{run}/log", {}),
            ("GET", f"/api/v1/runs/{run}/download", {}),
            (
                "POST",
                f"/api/v1/runs/{run}/cancel",
                {"headers": {"X-Requested-With": "bench"}},
            ),  # 409: finished
            ("GET", "/skus", {}),
            ("GET", "/api/v1/skus", {"params": {"after": sku}}),
            ("GET", "/api/v1/skus", {"params": {"search": "kettle lamp"}}),
            ("GET", "/api/v1/skus", {"params": {"sort": "rating", "desc": "1"}}),
            ("GET", "/api/v1/skus", {"params": {"base_sku": "B-012345"}}),
            ("GET", f"/sku/{sku}", {}),
            ("PATCH", f"/api/v1/sku/{sku}", {"json": {"rating": 4}}),
            ("PATCH", "/api/v1/processes/p-001", {"json": {"set": {"timeout": "1h"}, "dry_run": True}}),
            ("GET", "/metrics", {}),
            ("GET", "/api/v1/openapi.json", {}),
        ]
        endpoints: dict[str, Callable[[], Any]] = {}
        for method, path, options in calls:
            shown = path.replace(run, "RUN").replace(sku, "SKU")
            query = "&".join(options.get("params", {}))
            name = f"{method} {shown}" + (f"?{query}" if query else "")
            endpoints[name] = lambda method=method, path=path, options=options: client.request(
                method, path, **options
            )
        store = Store(ws.state_db)
        table = SkuTable.open(ws.sku_db)
        references: dict[str, Callable[[], Any]] = {
            "library: store.runs(limit=50)": lambda: store.runs(limit=50),
            "library: sku query after MIDDLE": lambda: table.query(SkuQuery(after=middle)),
            "library: sku query search": lambda: table.query(SkuQuery(search="kettle lamp")),
        }
        samples: dict[str, list[float]] = defaultdict(list)
        for name, call in endpoints.items():  # warm up, and check every one answers
            answer = call()
            assert answer.status_code < 400 or "cancel" in name, (name, answer.status_code, answer.text[:200])
        for _ in range(args.rounds):
            for name, call in endpoints.items():
                call()
                samples[name].append(timed.last)
            for name, call in references.items():
                begin = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - begin)
        client.close()
        store.close()
        table.close()
    print(f"\n{'endpoint':<40} {'p50 ms':>8} {'p99 ms':>8} {'target':>8}  verdict")
    for name, values in samples.items():
        p50, p99 = 1000 * statistics.median(values), 1000 * percentile(values, 0.99)
        if name.startswith("library"):
            print(f"{name:<40} {p50:8.2f} {p99:8.2f} {'':>8}  (reference)")
            continue
        verdict = "ok" if p99 <= TARGET_MS else "MISSED"
        print(f"{name:<40} {p50:8.2f} {p99:8.2f} {'<=' + str(int(TARGET_MS)):>8}  {verdict}")
    print(f"\n{args.rounds} rounds; the machine may be shared and loaded: compare on a quiet one.")


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
