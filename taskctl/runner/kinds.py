"""What the kinds of threads need beyond starting a process: how a callable and a test run are started, the
SKU table as input and output, and what is read back once a thread has ended (a return value, test counts).

A `func` thread runs `CALL_BOOTSTRAP` with the thread's Python (`python -c`): it puts the thread's folder
first on the import path, imports the module, calls the callable with the YAML `args`/`kwargs` (awaiting a
coroutine), prints the traceback of an exception (exit 1), and writes a JSON-serialisable return value to
`<thread>.result.json` in the run folder. It uses the standard library only, so it runs in any environment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from taskctl.clock import Clock
from taskctl.config.models import SkuSelection, ThreadOutput
from taskctl.runs import SkuImport, TestCounts
from taskctl.units import format_duration, format_size
from taskctl.workspace import Workspace

MAX_RECORDED_RESULT = 64 * 1024  # bytes of JSON; a larger return value stays in its file only
NO_TESTS_COLLECTED = 5  # pytest's exit code when it found no tests

CALL_BOOTSTRAP = """\
import asyncio, importlib, inspect, json, os, sys, traceback


def main():
    spec, call, result_file, folder = sys.argv[1:5]
    del sys.argv[1:]
    sys.argv[0] = spec
    if sys.path and sys.path[0] == "":  # `-c` puts the working directory (the run folder) first
        sys.path[0] = folder
    else:
        sys.path.insert(0, folder)
    module_name, _, attribute = spec.partition(":")
    values = json.loads(call)
    try:
        target = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
        value = target(*values["args"], **values["kwargs"])
        if inspect.isawaitable(value):
            async def wait(awaitable):
                return await awaitable
            value = asyncio.run(wait(value))
    except SystemExit:
        raise
    except BaseException as exc:
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # not this file's frame
        traceback.print_exception(type(exc), exc, tb)
        with open(result_file + ".raised", "w", encoding="utf-8") as out:
            out.write(traceback.format_exception_only(type(exc), exc)[-1].strip())
        return 1
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        kind = type(value).__name__
        print(f"{spec} returned a {kind}, which is not JSON; it is not recorded", file=sys.stderr)
        return 0
    temp = result_file + ".tmp"
    with open(temp, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temp, result_file)
    return 0


sys.exit(main())
"""


def func_argv(
    python: str,
    spec: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    thread_dir: Path,
    result_file: Path,
) -> list[str]:
    """The command line that calls `spec` ('module:callable') with `args` and `kwargs`."""
    call = json.dumps({"args": list(args), "kwargs": kwargs}, ensure_ascii=False)
    return [python, "-c", CALL_BOOTSTRAP, spec, call, str(result_file), str(thread_dir)]


def pytest_argv(python: str, thread_dir: Path, tests: str, junit: Path, args: Sequence[str]) -> list[str]:
    """pytest on `tests` (inside `thread_dir`, its root: test ids read `tests/test_x.py::test_y`), writing
    JUnit XML to `junit`; no cache is written into the thread's folder."""
    return [
        python,
        "-m",
        "pytest",
        str(thread_dir / tests),
        f"--rootdir={thread_dir}",
        f"--junitxml={junit}",
        "-p",
        "no:cacheprovider",
        *args,
    ]


def read_result(path: Path) -> tuple[Any, str | None]:
    """The return value a callable left in `path`, and a note when it is not recorded in run.json (too large,
    or no file: the callable returned something that is not JSON)."""
    try:
        size = path.stat().st_size
    except OSError:
        return None, None
    if size > MAX_RECORDED_RESULT:
        note = f"the return value is {format_size(size)} of JSON; it is kept in {path.name}, not in run.json"
        return None, note
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, ValueError) as exc:
        return None, f"cannot read the return value in {path.name}: {exc}"


def read_raised(result_file: Path) -> str | None:
    """`ValueError: boom` when the callable raised (the bootstrap leaves it beside its result file, and this
    removes it), else None."""
    raised = result_file.with_name(result_file.name + ".raised")
    try:
        text = raised.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    raised.unlink(missing_ok=True)
    return text[:300] or None


def read_junit(path: Path) -> TestCounts | None:
    """The counts in a JUnit XML report (pytest's), or None if there is none or it cannot be read."""
    import xml.etree.ElementTree as ElementTree  # only test threads need it

    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = TestCounts(junit=path.name)
    for suite in suites:
        tests, failures, errors, skipped = (
            int(suite.get(key, "0") or 0) for key in ("tests", "failures", "errors", "skipped")
        )
        counts.failed += failures
        counts.errors += errors
        counts.skipped += skipped
        counts.passed += max(0, tests - failures - errors - skipped)
    return counts


# -- the SKU table as input and output ------------------------------------------------------------------


def describe_selection(selection: SkuSelection) -> str:
    """The query in words, for logs and `--dry-run`: `base_sku B07, stale 7d, limit 100` (or `all rows`)."""
    parts = []
    if selection.search:
        parts.append(f"search '{selection.search}'")
    if selection.base_sku is not None:
        parts.append(f"base_sku {selection.base_sku}")
    if selection.min_rating is not None:
        parts.append(f"min_rating {selection.min_rating:g}")
    if selection.unrated:
        parts.append("unrated")
    if selection.stale is not None:
        parts.append(f"stale {format_duration(selection.stale)}")
    if selection.limit is not None:
        parts.append(f"limit {selection.limit}")
    return ", ".join(parts) or "all rows"


def write_sku_input(workspace: Workspace, selection: SkuSelection, target: Path, clock: Clock) -> int:
    """Write the rows `selection` picks from the workspace's SKU table to `target`; how many. `stale` counts
    back from the clock's now."""
    from taskctl.skus import SkuQuery, SkuTable
    from taskctl.skus.thread_io import write_selection

    query = SkuQuery(
        search=selection.search,
        base_sku=selection.base_sku,
        min_rating=selection.min_rating,
        unrated=selection.unrated,
        limit=selection.limit,
    )
    before = None if selection.stale is None else clock.now() - timedelta(seconds=selection.stale)
    with SkuTable.open(workspace.sku_db, clock=clock) as table:
        return write_selection(table, query, target, before)


def import_output(
    workspace: Workspace, output: ThreadOutput, folder: Path, log: Callable[[str], None], clock: Clock
) -> SkuImport:
    """Import a thread's output file from its run folder into the SKU table (all or nothing; changed rows are
    stamped with the clock's now); what it did. A rejected file comes back with `rejected` set, each problem
    also given to `log`."""
    from taskctl.errors import TaskctlError
    from taskctl.skus import ImportRejected, SkuTable
    from taskctl.skus.thread_io import import_columns

    record = SkuImport(file=output.file, into_skus=str(output.into_skus))
    try:
        with SkuTable.open(workspace.sku_db, clock=clock) as table:
            done = import_columns(table, folder / output.file, str(output.into_skus), source=output.file)
    except ImportRejected as rejected:
        record.rejected = list(rejected.lines)
        for line in rejected.lines:
            log(line)
        return record
    except TaskctlError as exc:
        record.rejected = [exc.message]
        log(exc.message)
        return record
    summary = done.summary
    record.rows, record.new, record.updated = summary.rows, summary.new, summary.updated
    record.unchanged, record.skipped = summary.unchanged, summary.skipped
    record.summary = summary.sentence()
    record.ignored_columns = list(done.ignored)
    if done.ignored:
        log(f"{output.file}: ignored the columns that are not SKU columns: {', '.join(done.ignored)}")
    log(record.sentence())
    return record
