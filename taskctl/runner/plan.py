"""How a run's threads would start: the command line, environment and limits of each, for a run and for
`run --dry-run`. Nothing is created or run, so a dry run imports neither the run index nor the process
machinery that executing a chain needs (`taskctl.runner.chain`)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from taskctl import inherited_env
from taskctl.clock import SYSTEM_CLOCK, Clock
from taskctl.config.models import ThreadType, to_json
from taskctl.deps import DependencyError, environment_for
from taskctl.runner import kinds
from taskctl.runs import RunId, run_stamp

if TYPE_CHECKING:
    from taskctl.config.loader import ResolvedProcess, ResolvedThread
    from taskctl.config.models import SkuInput, ThreadOutput
    from taskctl.deps import ThreadEnvironment
    from taskctl.workspace import Workspace


class ThreadPlan(NamedTuple):
    """How one thread of a chain will be started: what `run --dry-run` prints."""

    name: str
    step: str  # "2/3"
    kind: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]  # what taskctl adds to the inherited environment
    timeout: float | None
    kill_grace: float
    max_log_size: int
    retries: int
    retry_delay: float
    retry_backoff: float
    input_source: Path | None = None  # the scraping input to copy into the run folder
    input_copy: Path | None = None  # the input CSV in the run folder (copied, or built from the SKU table)
    script: Path | None = None
    python: Path | None = None  # the interpreter of a Python thread (script, code, func, test)
    environment: ThreadEnvironment | None = None  # its own environment, built before its first attempt
    problem: str | None = None  # why it cannot start (requirements that cannot be read)
    sku_input: SkuInput | None = None  # the SKU table query its input CSV is built from
    output: ThreadOutput | None = None  # the file imported into the SKU table after it succeeds
    func: str | None = None  # 'module:callable'
    result_file: Path | None = None  # where a callable's return value is written
    junit: Path | None = None  # where a test thread's JUnit XML is written

    def to_json(self) -> dict[str, object]:
        sku_input = self.sku_input
        return {
            "name": self.name,
            "step": self.step,
            "kind": self.kind,
            "argv": self.argv,
            "cwd": str(self.cwd),
            "env": self.env,
            "timeout": self.timeout,
            "retries": self.retries,
            "input": None if self.input_source is None else str(self.input_source),
            "python": None if self.python is None else str(self.python),
            "environment": None
            if self.environment is None
            else {"path": str(self.environment.folder), "ready": self.environment.ready},
            "problem": self.problem,
            "sku_input": None
            if sku_input is None or self.input_copy is None
            else {
                "query": to_json(sku_input.skus, exclude_defaults=True),
                "required": sku_input.required,
                "file": str(self.input_copy),
            },
            "output": None if self.output is None else to_json(self.output),
            "func": self.func,
            "junit": None if self.junit is None else str(self.junit),
        }


def plan_run(
    workspace: Workspace, definition: ResolvedProcess, clock: Clock = SYSTEM_CLOCK
) -> list[ThreadPlan]:
    """How each thread of a run of `definition` would start if it began now (nothing is created)."""
    stamp = run_stamp(clock.now(), ZoneInfo(definition.zone_name))
    run_id = RunId.of(definition.name, stamp)
    return plan_chain(workspace, definition, workspace.run_folder(run_id), run_id)


def plan_chain(
    workspace: Workspace, definition: ResolvedProcess, folder: Path, run_id: str
) -> list[ThreadPlan]:
    """How each thread of `definition` would start in `folder` (nothing is created or run)."""
    count = len(definition.threads)
    return [
        plan_thread(workspace, definition.name, thread, folder, run_id, f"{index}/{count}")
        for index, thread in enumerate(definition.threads, start=1)
    ]


def plan_thread(
    workspace: Workspace, process: str, resolved: ResolvedThread, folder: Path, run_id: str, step: str
) -> ThreadPlan:
    """The command line, environment and limits of one thread of a run."""
    name, thread = resolved.name, resolved.config
    thread_dir = workspace.thread_dir(name)
    environment: ThreadEnvironment | None = None
    problem: str | None = None
    try:
        environment = environment_for(workspace, name, thread)
    except DependencyError as exc:
        problem = exc.message
    python = environment.python if environment is not None else Path(sys.executable)
    input_source = input_copy = None
    if thread.sku_input is not None:
        input_copy = folder / f"{name}.input.csv"
    elif thread.type is ThreadType.SCRAPING and thread.input_file:
        input_source = thread_dir / thread.input_file
        input_copy = folder / input_source.name
    values = {"run_dir": str(folder), "input": str(input_copy) if input_copy else ""}
    kind = thread.kind
    args = [_fill(a, values) for a in thread.args if isinstance(a, str)]
    if input_copy is not None and kind not in ("func", "test") and not any("{input}" in a for a in args):
        args.insert(0, str(input_copy))
    script: Path | None = None
    result_file = junit = None
    if kind == "command":
        command = thread.command if isinstance(thread.command, list) else shlex.split(thread.command or "")
        argv = [_fill(part, values) for part in command] + args
    elif kind == "code":
        argv = [str(python), "-c", thread.code or "", *args]
    elif kind == "func":
        result_file = folder / f"{name}.result.json"
        func = thread.func or ""
        argv = kinds.func_argv(str(python), func, thread.args, thread.kwargs, thread_dir, result_file)
    elif kind == "test":
        junit = folder / f"{name}.junit.xml"
        argv = kinds.pytest_argv(str(python), thread_dir, thread.test or ".", junit, args)
    else:
        script = thread_dir / thread.script_name
        argv = [str(python), str(script), *args]
    env = {
        "PYTHONUNBUFFERED": "1",
        "TASKCTL_RUN_DIR": str(folder),
        "TASKCTL_RUN_ID": run_id,
        "TASKCTL_PROCESS": process,
        "TASKCTL_THREAD": name,
        "TASKCTL_THREAD_DIR": str(thread_dir),
        "TASKCTL_SKU_DB": str(workspace.sku_db),
        "TASKCTL_STEP": step,
    }
    if input_copy is not None:
        env["TASKCTL_INPUT"] = str(input_copy)
    if environment is not None:  # whatever the kind: a command finds the environment's programs first
        env["VIRTUAL_ENV"] = str(environment.folder)
        inherited_path = inherited_env().get("PATH", os.defpath)
        env["PATH"] = os.pathsep.join([str(environment.bin_dir), inherited_path])
    env.update(thread.env)
    return ThreadPlan(
        name=name,
        step=step,
        kind=kind,
        argv=argv,
        cwd=folder,
        env=env,
        timeout=resolved.timeout,
        kill_grace=resolved.kill_grace,
        max_log_size=resolved.max_log_size,
        retries=thread.retries.count,
        retry_delay=thread.retries.delay,
        retry_backoff=thread.retries.backoff,
        input_source=input_source,
        input_copy=input_copy,
        script=script,
        python=None if kind == "command" else python,
        environment=environment,
        problem=problem,
        sku_input=thread.sku_input,
        output=thread.output,
        func=thread.func,
        result_file=result_file,
        junit=junit,
    )


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text
