"""Per-thread Python environments: a thread's requirements get a virtual environment of their own.

A thread's `requirements:` list and its `threads/<name>/requirements.txt` (both, if both exist) are
normalised and hashed with the Python version into a key; the environment lives in `.taskctl/venvs/<key>`, so
threads with identical requirements share one and a change of requirements builds a new one.

Building uses `uv` when it is there (the `uv` package installed with taskctl, `pip install 'taskctl[uv]'`,
else a `uv` on PATH) and `python -m venv` + pip otherwise; `TASKCTL_INSTALLER=uv|pip` forces one. An
environment is built in a folder of its own (`.build-<key>-<token>`, never moved: virtual environments hold
their own absolute paths) and published by renaming a symlink `<key>` onto it, so a half-built environment is
never seen. A lock per key keeps two builders of the same environment from colliding: the second waits and
reuses what the first built.

A `test:` thread always has an environment: pytest is an implicit requirement (unless its requirements name
pytest themselves). A run builds a missing environment before the thread's first attempt (`build_environment`
with `should_stop`, so that a cancel does not wait for the installer).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from taskctl.errors import TaskctlError, UsageError

if TYPE_CHECKING:
    from taskctl.config.loader import LoadedConfig
    from taskctl.config.models import ThreadConfig
    from taskctl.workspace import Workspace

REQUIREMENTS_FILE = "requirements.txt"
INSTALLER_ENV = "TASKCTL_INSTALLER"
ENV_RECORD = "taskctl-env.json"
_BUILD_PREFIX = ".build-"
_ERROR_LINES = 40  # of the installer's output, kept for the error message
_MULTIPLICATION_SIGN = "\u00d7"  # uv starts its error reports with it
# how pip and uv start the lines that say why they failed
_ERROR_MARKS = ("ERROR", "error:", "cause:", _MULTIPLICATION_SIGN, "╰─▶")


class Installer(StrEnum):
    UV = "uv"
    PIP = "pip"


class DependencyError(TaskctlError):
    """Requirements that cannot be read or installed; `output` holds the installer's last lines."""

    def __init__(self, message: str, output: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.output = list(output)


class InstallStopped(DependencyError):
    """A build stopped because its caller asked (a cancelled or timed-out run); nothing was published."""


IMPLICIT_TEST_REQUIREMENT = "pytest"  # every `test:` thread's environment has it
_STOP_POLL = 0.1  # seconds between looks at whether a build should stop


# -- requirements ---------------------------------------------------------------------------------------


class Requirement(NamedTuple):
    """One requirement as written, with its name and version specifier when it names a package."""

    text: str  # normalised: `requests[socks]>=2.31`, or a path/URL as written
    name: str | None = None  # canonical (PEP 503): `requests`
    specifier: str = ""
    marker: str | None = None


class Requirements(NamedTuple):
    """A thread's requirements: what the key is made of and what the installer is given."""

    items: tuple[Requirement, ...]  # from `requirements:` and requirements.txt, deduplicated
    listed: tuple[str, ...]  # the `requirements:` entries that are not options, as written
    options: tuple[str, ...]  # installer options from `requirements:` (`--index-url URL`, ...)
    file: Path | None  # threads/<name>/requirements.txt, passed to the installer with -r
    file_digest: str  # of the file and every file it includes (-r, -c)

    def key(self, python: str) -> str:
        """The environment key: a hash of the normalised requirements and the Python (see `python_tag`)."""
        digest = hashlib.sha256()
        for part in (
            python,
            *sorted(r.text for r in self.items),
            "--",
            *self.options,
            "--",
            self.file_digest,
        ):
            digest.update(part.encode() + b"\0")
        return digest.hexdigest()[:16]


def thread_requirements(workspace: Workspace, thread_name: str, thread: ThreadConfig) -> Requirements | None:
    """The requirements of a thread, or None when it has none. Raises DependencyError naming the file, line
    and text of a requirement that cannot be read."""
    items: dict[str, Requirement] = {}
    listed: list[str] = []
    options: list[str] = []
    for index, line in enumerate(thread.requirements):
        where = f"threads.{thread_name}.requirements[{index}]"
        text = line.strip()
        if text.startswith("-"):
            options.extend(shlex.split(text))
        elif text:
            requirement = parse_requirement(text, where)
            items.setdefault(requirement.text, requirement)
            listed.append(text)
    file = workspace.thread_dir(thread_name) / REQUIREMENTS_FILE
    digest = ""
    if file.is_file():
        digest_of = hashlib.sha256()
        for requirement in _read_requirements_file(file, digest_of, seen=set()):
            items.setdefault(requirement.text, requirement)
        digest = digest_of.hexdigest()
    if thread.test is not None and not any(r.name == IMPLICIT_TEST_REQUIREMENT for r in items.values()):
        # a test thread's environment always has pytest; its own requirements may pin a version instead
        items[IMPLICIT_TEST_REQUIREMENT] = parse_requirement(IMPLICIT_TEST_REQUIREMENT, "pytest")
        listed.append(IMPLICIT_TEST_REQUIREMENT)
    if not items and not options and not digest:
        return None
    return Requirements(
        tuple(items.values()), tuple(listed), tuple(options), file if digest else None, digest
    )


def parse_requirement(text: str, where: str) -> Requirement:
    """One requirement line: PEP 508 (`Requests >= 2.31`) or a local path / URL (kept as written)."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as Pep508
    from packaging.utils import canonicalize_name

    try:
        parsed = Pep508(text)
    except InvalidRequirement as error:
        if _looks_like_location(text):
            return Requirement(text)
        raise DependencyError(f"{where}: '{text}' is not a valid requirement ({error}).") from None
    name = canonicalize_name(parsed.name)
    extras = f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else ""
    specifier = str(parsed.specifier)
    marker = str(parsed.marker) if parsed.marker else None
    normal = f"{name}{extras}{specifier}" + (f" @ {parsed.url}" if parsed.url else "")
    if marker:
        normal += f"; {marker}"
    return Requirement(normal, name, specifier, marker)


def _looks_like_location(text: str) -> bool:
    return text.startswith((".", "/", "~", "file:", "http:", "https:", "git+")) or text.endswith(
        (".whl", ".tar.gz", ".zip")
    )


def _read_requirements_file(path: Path, digest: Any, seen: set[Path]) -> Iterator[Requirement]:
    """The requirements of a requirements.txt, feeding its text and that of each -r/-c file to `digest`."""
    resolved = path.resolve()
    if resolved in seen:
        return
    seen.add(resolved)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DependencyError(f"cannot read {path}: {error.strerror}.") from None
    digest.update(str(resolved).encode() + b"\0" + data + b"\0")
    for number, line in _logical_lines(data.decode("utf-8", errors="replace")):
        where = f"{path}:{number}"
        if line.startswith("-"):
            words = shlex.split(line)
            flag, value = words[0], words[1] if len(words) > 1 else ""
            if "=" in flag and flag.startswith("--"):
                flag, value = flag.split("=", 1)
            if flag in ("-r", "--requirement", "-c", "--constraint") and value:
                included = _read_requirements_file(path.parent / value, digest, seen)
                if flag in ("-r", "--requirement"):
                    yield from included
                else:
                    for _ in included:  # constraints install nothing, but changing them changes the key
                        pass
            continue
        yield parse_requirement(line, where)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) without comments and blank lines, `\\` continuations joined (as pip reads them)."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw if not raw.lstrip().startswith("#") else ""
        if " #" in line or "\t#" in line:
            line = line[: min(i for i in (line.find(" #"), line.find("\t#")) if i >= 0)]
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


def python_tag() -> str:
    """The interpreter part of the key: implementation, full version and installation (a different 3.11.7
    elsewhere on the machine gets environments of its own). Environments are made from this Python."""
    implementation, version = platform.python_implementation(), platform.python_version()
    return f"{implementation}-{version}-{os.path.realpath(sys.base_prefix)}"


# -- where environments live ----------------------------------------------------------------------------


class ThreadEnvironment(NamedTuple):
    """The environment a thread's requirements call for; `ready` once built."""

    thread: str
    key: str
    folder: Path  # .taskctl/venvs/<key>, a symlink to the build folder once published
    requirements: Requirements

    @property
    def python(self) -> Path:
        return self.folder / "bin" / "python"

    @property
    def bin_dir(self) -> Path:
        return self.folder / "bin"

    @property
    def ready(self) -> bool:
        return (self.folder / ENV_RECORD).is_file()


def venvs_dir(workspace: Workspace) -> Path:
    return workspace.state_dir / "venvs"


def environment_for(workspace: Workspace, thread_name: str, thread: ThreadConfig) -> ThreadEnvironment | None:
    """The environment of a thread (built or not; nothing is created), or None if it has no requirements.

    For `run --dry-run`: `.python` is the interpreter the thread will run with."""
    requirements = thread_requirements(workspace, thread_name, thread)
    if requirements is None:
        return None
    key = requirements.key(python_tag())
    return ThreadEnvironment(thread_name, key, venvs_dir(workspace) / key, requirements)


def ensure_environment(
    workspace: Workspace,
    thread_name: str,
    thread: ThreadConfig,
    log: Callable[[str], None],
    installer: Installer | str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """The interpreter a thread runs with: its environment's python, built first if missing (the installer's
    output goes to `log`, line by line), or this Python when the thread has no requirements.

    Raises DependencyError, with the installer's message, when the requirements cannot be installed, and
    InstallStopped when `should_stop()` turned true during the build (it is asked every 0.1 s)."""
    environment = environment_for(workspace, thread_name, thread)
    if environment is None:
        return Path(sys.executable)
    build_environment(workspace, environment, log, installer, should_stop)
    return environment.python


def build_environment(
    workspace: Workspace,
    environment: ThreadEnvironment,
    log: Callable[[str], None],
    installer: Installer | str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> bool:
    """Build `environment` unless it is ready; True if this call built it. Safe to call from several
    processes at once: one builds, the others wait for it and reuse its work."""
    venvs = venvs_dir(workspace)
    built = False
    if not environment.ready:
        uv = find_uv()
        chosen = choose_installer(installer, uv)
        with _key_lock(venvs, environment.key, log):
            if not environment.ready:
                _build(workspace, environment, log, chosen, uv, should_stop)
                built = True
    _link_taskctl(environment.folder)
    _remember(venvs, environment.thread, environment.key)
    return built


# -- building -------------------------------------------------------------------------------------------


def choose_installer(
    requested: Installer | str | None, uv_binary: str | None, environ: Mapping[str, str] = os.environ
) -> Installer:
    """uv if `uv_binary` was found, else pip; `requested` (else $TASKCTL_INSTALLER) forces one."""
    wanted = requested if requested is not None else environ.get(INSTALLER_ENV) or None
    if wanted is not None and wanted not in tuple(Installer):
        source = f"${INSTALLER_ENV}" if requested is None else "--installer"
        raise UsageError(f"{source} is '{wanted}'; use uv or pip.")
    if wanted == Installer.PIP or (wanted is None and not uv_binary):
        return Installer.PIP
    if not uv_binary:
        raise DependencyError(
            "uv was asked for but is not installed; install it with \"pip install 'taskctl[uv]'\", put it on "
            "PATH, or use pip."
        )
    return Installer.UV


def find_uv() -> str | None:
    """The uv binary: the one the `uv` package installed beside taskctl, else one on PATH, else None."""
    try:
        import uv  # type: ignore[import-untyped, unused-ignore]

        found = uv.find_uv_bin()
        return str(found) if found else None
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _build(
    workspace: Workspace,
    environment: ThreadEnvironment,
    log: Callable[[str], None],
    installer: Installer,
    uv: str | None,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    venvs = venvs_dir(workspace)
    folder = venvs / f"{_BUILD_PREFIX}{environment.key}-{os.urandom(4).hex()}"
    requirements = environment.requirements
    thread = environment.thread
    begin = time.monotonic()
    log(
        f"deps: building environment {environment.key} for thread '{thread}' with {installer} "
        f"(Python {platform.python_version()})"
    )
    # relative paths in requirements are relative to the thread's folder, for pip and uv alike
    cwd = workspace.thread_dir(thread) if workspace.thread_dir(thread).is_dir() else workspace.root
    python = folder / "bin" / "python"
    if installer is Installer.UV and uv:
        create = [uv, "venv", "--quiet", "--python", sys.executable, str(folder)]
        install = [uv, "pip", "install", "--python", str(python)]
    else:
        create = [sys.executable, "-m", "venv", str(folder)]
        install = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    install += [*requirements.options, *requirements.listed]
    if requirements.file is not None:
        install += ["-r", str(requirements.file)]
    try:
        with_what = f"of thread '{thread}' with {installer}"
        _call(create, cwd, log, f"creating the environment {with_what}", should_stop)
        _call(install, cwd, log, f"installing the requirements {with_what}", should_stop)
        record = {
            "key": environment.key,
            "requirements": [r.text for r in requirements.items],
            "options": list(requirements.options),
            "python": platform.python_version(),
            "installer": str(installer),
            "built_for": thread,
        }
        _link_taskctl(folder)
        (folder / ENV_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        _publish(venvs, environment.key, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    log(f"deps: environment {environment.key} ready in {time.monotonic() - begin:.1f}s")


def _call(
    argv: list[str],
    cwd: Path,
    log: Callable[[str], None],
    what: str,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Run an installer step, passing its output to `log` line by line; DependencyError if it fails,
    InstallStopped if `should_stop()` turned true meanwhile (the installer is then terminated)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    tail: deque[str] = deque(maxlen=_ERROR_LINES)
    try:
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as error:
        raise DependencyError(f"{what} failed: cannot run {argv[0]} ({error.strerror}).") from None
    stopped, finished = threading.Event(), threading.Event()
    watcher = None
    if should_stop is not None:
        watcher = threading.Thread(
            target=_stop_when_asked,
            args=(child, should_stop, stopped, finished),
            name="deps-stop",
            daemon=True,
        )
        watcher.start()
    try:
        assert child.stdout is not None
        for line in child.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            log(line)
        code = child.wait()
    except BaseException:
        child.kill()
        child.wait()
        raise
    finally:
        finished.set()
        if watcher is not None:
            watcher.join()
    if stopped.is_set():
        raise InstallStopped(f"{what} was stopped before it finished.", list(tail))
    if code != 0:
        raise DependencyError(f"{what} failed (exit {code}): {_essence(tail)}", list(tail))


def _stop_when_asked(
    child: subprocess.Popen[str],
    should_stop: Callable[[], bool],
    stopped: threading.Event,
    finished: threading.Event,
) -> None:
    """Terminate the installer once `should_stop()` is true (then kill it if it lingers)."""
    while not finished.wait(_STOP_POLL):
        if should_stop():
            stopped.set()
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
            return


def _essence(lines: Sequence[str]) -> str:
    """The installer's own words for what went wrong: its error lines, else its last lines."""
    words = [line.strip().lstrip(_MULTIPLICATION_SIGN + "╰─▶ ").strip() for line in lines]
    errors = [w for w, line in zip(words, lines, strict=True) if line.lstrip().startswith(_ERROR_MARKS)]
    chosen = errors or [w for w in words if w][-3:]
    text = "; ".join(chosen) or "no output"
    return text if text.endswith((".", "!", "?")) else text + "."


@contextlib.contextmanager
def _key_lock(venvs: Path, key: str, log: Callable[[str], None] | None) -> Iterator[bool]:
    """Hold the lock of environment `key`: wait for it (telling `log`), or with `log=None` yield False at once
    if someone else holds it."""
    locks = venvs / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{key}.lock", "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if log is None:
                yield False
                return
            log(f"deps: waiting for another build of environment {key}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _publish(venvs: Path, key: str, folder: Path) -> None:
    """Point `<key>` at `folder` in one rename, and drop what an older build of the key left behind."""
    link = venvs / key
    temp = venvs / f".link-{key}-{os.urandom(4).hex()}"
    os.symlink(folder.name, temp)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)  # a plain folder here is not ours to keep half-built
    os.replace(temp, link)


def _link_taskctl(folder: Path) -> None:
    """Keep `import taskctl` (the taskctl.skus API of thread scripts) working inside the environment: a .pth
    file names a folder holding only a link to this taskctl's package, refreshed if taskctl moved."""
    import taskctl

    package = Path(taskctl.__file__).resolve().parent
    real = folder.resolve()
    holder = real / "taskctl-link"
    link = holder / "taskctl"
    if link.is_symlink() and os.readlink(link) == str(package):
        return
    holder.mkdir(exist_ok=True)
    temp = holder / f".taskctl-{os.urandom(4).hex()}"
    os.symlink(package, temp)
    os.replace(temp, link)
    for site in real.glob("lib/python*/site-packages"):
        (site / "_taskctl.pth").write_text(f"{holder}\n", encoding="utf-8")


def _remember(venvs: Path, thread: str, key: str) -> None:
    """Record which environment a thread uses now, for `deps status` once its requirements change."""
    folder = venvs / ".threads"
    pointer = folder / thread
    with contextlib.suppress(OSError):
        if pointer.read_text(encoding="utf-8") == key:
            return
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{thread}.{os.urandom(4).hex()}"
    temp.write_text(key, encoding="utf-8")
    os.replace(temp, pointer)


def _remembered(venvs: Path, thread: str) -> str | None:
    try:
        return (venvs / ".threads" / thread).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


# -- status ---------------------------------------------------------------------------------------------


class RequirementState(StrEnum):
    OK = "ok"
    MISSING = "missing"
    OUTDATED = "outdated"  # installed, but not a version the requirement asks for
    NOT_NEEDED = "not_needed"  # its marker excludes this Python
    UNKNOWN = "unknown"  # a path or URL without a name


class EnvironmentState(StrEnum):
    READY = "ready"
    NOT_BUILT = "not_built"  # the requirements changed (or were never installed): `deps install`
    BROKEN = "broken"  # built, but something it needs is missing or outdated


class RequirementStatus(NamedTuple):
    requested: str
    name: str | None
    installed: str | None
    state: RequirementState


@dataclass(frozen=True)
class ThreadDepsStatus:
    """One thread: its environment, and each requirement against what is installed (in its environment, or
    in the one it used before its requirements changed)."""

    thread: str
    state: EnvironmentState
    environment: ThreadEnvironment
    inspected: Path | None  # the environment the installed versions come from
    requirements: list[RequirementStatus] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "thread": self.thread,
            "state": str(self.state),
            "key": self.environment.key,
            "environment": str(self.environment.folder),
            "python": str(self.environment.python),
            "installed_in": None if self.inspected is None else str(self.inspected),
            "requirements": [
                {"requested": r.requested, "name": r.name, "installed": r.installed, "state": str(r.state)}
                for r in self.requirements
            ],
        }


def deps_status(config: LoadedConfig, threads: Sequence[str] | None = None) -> list[ThreadDepsStatus]:
    """The dependency status of every thread with requirements (or of `threads`), in name order."""
    workspace = config.workspace
    venvs = venvs_dir(workspace)
    for name in threads or ():
        config.thread(name)  # NotFoundError for a misspelt name
    names = sorted(config.threads) if not threads else list(dict.fromkeys(threads))
    found: list[ThreadDepsStatus] = []
    for name in names:
        environment = environment_for(workspace, name, config.threads[name])
        if environment is None:
            continue
        inspected: Path | None = environment.folder if environment.ready else None
        if inspected is None:
            previous = _remembered(venvs, name)
            if previous and (venvs / previous / ENV_RECORD).is_file():
                inspected = venvs / previous
        installed = installed_versions(inspected) if inspected else {}
        rows = [_requirement_status(r, installed) for r in environment.requirements.items]
        if not environment.ready:
            state = EnvironmentState.NOT_BUILT
        elif any(r.state in (RequirementState.MISSING, RequirementState.OUTDATED) for r in rows):
            state = EnvironmentState.BROKEN
        else:
            state = EnvironmentState.READY
        found.append(ThreadDepsStatus(name, state, environment, inspected, rows))
    return found


def _requirement_status(requirement: Requirement, installed: Mapping[str, str]) -> RequirementStatus:
    from packaging.markers import Marker
    from packaging.specifiers import SpecifierSet

    if requirement.name is None:
        return RequirementStatus(requirement.text, None, None, RequirementState.UNKNOWN)
    version = installed.get(requirement.name)
    if requirement.marker and not Marker(requirement.marker).evaluate():
        state = RequirementState.NOT_NEEDED
    elif version is None:
        state = RequirementState.MISSING
    elif SpecifierSet(requirement.specifier).contains(version, prereleases=True):
        state = RequirementState.OK
    else:
        state = RequirementState.OUTDATED
    return RequirementStatus(requirement.text, requirement.name, version, state)


def installed_versions(environment: Path) -> dict[str, str]:
    """Canonical name -> version of every distribution installed in an environment (read from its files)."""
    from importlib.metadata import distributions

    from packaging.utils import canonicalize_name

    versions: dict[str, str] = {}
    for site in environment.glob("lib/python*/site-packages"):
        for distribution in distributions(path=[str(site)]):
            name = distribution.metadata["Name"]
            if name:
                versions[canonicalize_name(name)] = distribution.version
    return versions


# -- install and prune for the CLI ----------------------------------------------------------------------


class InstallResult(NamedTuple):
    thread: str
    environment: ThreadEnvironment
    built: bool
    seconds: float


def install_threads(
    config: LoadedConfig,
    threads: Sequence[str] | None,
    log: Callable[[str], None],
    installer: Installer | str | None = None,
) -> list[InstallResult]:
    """Build the environments of `threads` (default: every thread with requirements) that are missing.

    A named thread without requirements is a UsageError; the first failing install raises DependencyError."""
    workspace = config.workspace
    names = sorted(config.threads) if not threads else list(dict.fromkeys(threads))
    results = []
    for name in names:
        environment = environment_for(workspace, name, config.thread(name))
        if environment is None:
            if threads:
                raise UsageError(
                    f"thread '{name}' has no requirements (neither 'requirements:' nor "
                    f"threads/{name}/{REQUIREMENTS_FILE}); nothing to install."
                )
            continue
        begin = time.monotonic()
        built = build_environment(workspace, environment, log, installer)
        results.append(InstallResult(name, environment, built, time.monotonic() - begin))
    return results


class UnusedEnvironment(NamedTuple):
    path: Path
    size: int


def prune_environments(config: LoadedConfig, dry_run: bool = False) -> list[UnusedEnvironment]:
    """Remove the environments no thread of the config uses (and builds that never finished); returns them.

    An environment being built or used by a build right now (its lock is held) is left alone."""
    from taskctl.retention import folder_size

    workspace = config.workspace
    venvs = venvs_dir(workspace)
    if not venvs.is_dir():
        return []
    used = set()
    for name, thread in config.threads.items():
        environment = environment_for(workspace, name, thread)
        if environment is not None:
            used.add(environment.key)
    linked = {
        e.name: os.readlink(e) for e in venvs.iterdir() if e.is_symlink() and not e.name.startswith(".")
    }
    doomed = [
        (key, [venvs / key, venvs / target]) for key, target in sorted(linked.items()) if key not in used
    ]
    targets = set(linked.values())
    for entry in sorted(venvs.glob(f"{_BUILD_PREFIX}*")):
        if entry.name not in targets:
            key = entry.name[len(_BUILD_PREFIX) :].rsplit("-", 1)[0]
            doomed.append((key, [entry]))
    removed: list[UnusedEnvironment] = []
    for key, paths in doomed:
        with _key_lock(venvs, key, log=None) as held:
            if not held:
                continue
            size = sum(folder_size(p) for p in paths if not p.is_symlink())
            removed.append(UnusedEnvironment(paths[0], size))
            if dry_run:
                continue
            for path in paths:
                if path.is_symlink():
                    path.unlink()
                else:
                    shutil.rmtree(path, ignore_errors=True)
    if not dry_run:
        for pointer in (venvs / ".threads").glob("*") if (venvs / ".threads").is_dir() else []:
            if pointer.name not in config.threads:
                pointer.unlink(missing_ok=True)
    return removed
