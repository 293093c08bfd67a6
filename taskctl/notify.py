"""Webhook notifications: which targets hear of an event, the JSON they get, delivering it in the background.

A target in config/taskctl.yaml (`notify: {ops: {url, on, headers}}`) is called for the processes that name
it (`notify: [ops]`). Delivery never blocks nor fails a run: each POST runs on a background thread with a
10 s timeout and up to 3 attempts (1 s, then 4 s apart); its outcome goes to a callback, for the run's
console log and run.json. Payloads are built by pure functions from a run's record, reading only the fields
named in `RunFacts`.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from taskctl import __version__
from taskctl.config.models import NotifyEvent, NotifyTarget
from taskctl.runs import CONSOLE_LOG, utc_text

if TYPE_CHECKING:
    from taskctl.config.loader import LoadedConfig

TIMEOUT = 10.0  # seconds per attempt
ATTEMPTS = 3
BACKOFF = (1.0, 4.0)  # seconds before the second and the third attempt
LOG_TAIL_LINES = 20
_RETRIED_STATUSES = {408, 425, 429, 500, 502, 503, 504}
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FAILED_THREAD_STATUSES = {"failed", "timed_out", "cancelled", "interrupted"}


class ThreadFacts(Protocol):
    """What a payload reads of one thread of a run."""

    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def signal(self) -> str | None: ...


class RunFacts(Protocol):
    """What a payload reads of a run (`taskctl.runs.RunRecord` has all of it)."""

    @property
    def id(self) -> str: ...
    @property
    def process(self) -> str: ...
    @property
    def folder(self) -> Path: ...
    @property
    def trigger(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def scheduled_for(self) -> datetime | None: ...
    @property
    def started(self) -> datetime: ...
    @property
    def finished(self) -> datetime | None: ...
    @property
    def threads(self) -> Sequence[ThreadFacts]: ...


# -- which targets, which event ----------------------------------------------------------------------


def events_at_end(status: str) -> list[NotifyEvent]:
    """The events a run that ended with `status` raises, most specific first.

    A failed run (failed, timed out, cancelled, interrupted) has failed for good: `final_failure`, which
    `failure` targets hear too. A run skipped by its overlap policy is a `missed` slot.
    """
    if status == "succeeded":
        return [NotifyEvent.SUCCESS]
    if status == "skipped":
        return [NotifyEvent.MISSED]
    if status in ("queued", "running"):
        return []
    return [NotifyEvent.FINAL_FAILURE, NotifyEvent.FAILURE]


def targets_for(
    targets: Mapping[str, NotifyTarget], names: Sequence[str], events: Sequence[NotifyEvent]
) -> list[tuple[str, NotifyTarget, NotifyEvent]]:
    """Each of the `names`d targets that listens to one of `events`, with the first such event: one POST
    per target, even when it listens to both `failure` and `final_failure`."""
    chosen = []
    for name in dict.fromkeys(names):
        target = targets.get(name)
        if target is None:
            continue
        event = next((e for e in events if e in target.on), None)
        if event is not None:
            chosen.append((name, target, event))
    return chosen


# -- payloads ----------------------------------------------------------------------------------------


def run_payload(
    event: NotifyEvent | str,
    run: RunFacts,
    workspace_name: str,
    log_tail: Sequence[str],
    failed_thread: str | None = None,
) -> dict[str, Any]:
    """The JSON body for `event` of `run`. `failed_thread` names the thread of a failed attempt that will
    be retried (its record still says running); otherwise the first failed thread is found in the record."""
    threads = list(run.threads)
    name = failed_thread or next((t.name for t in threads if str(t.status) in _FAILED_THREAD_STATUSES), None)
    thread = next((t for t in threads if t.name == name), None)
    duration = None if run.finished is None else round((run.finished - run.started).total_seconds(), 3)
    return {
        "event": str(event),
        "process": run.process,
        "run_id": run.id,
        "status": str(run.status),
        "trigger": str(run.trigger),
        "scheduled_for": utc_text(run.scheduled_for),
        "started": utc_text(run.started),
        "finished": utc_text(run.finished),
        "duration": duration,
        "failed_thread": name,
        "exit_code": None if thread is None else thread.exit_code,
        "signal": None if thread is None else thread.signal,
        "log_tail": list(log_tail),
        "workspace": workspace_name,
    }


def missed_payload(process: str, scheduled_for: datetime, reason: str, workspace_name: str) -> dict[str, Any]:
    """The JSON body for a slot that never became a run (`reason`: why, e.g. 'older than misfire_grace')."""
    return {
        "event": str(NotifyEvent.MISSED),
        "process": process,
        "run_id": None,
        "status": "missed",
        "trigger": "schedule",
        "scheduled_for": utc_text(scheduled_for),
        "started": None,
        "finished": None,
        "duration": None,
        "failed_thread": None,
        "exit_code": None,
        "signal": None,
        "log_tail": [],
        "workspace": workspace_name,
        "reason": reason,
    }


def sample_payload(event: str, workspace_name: str, now: datetime) -> dict[str, Any]:
    """A made-up run, for `taskctl notify test`: every key a real payload has, with plausible values."""
    failed = event in (NotifyEvent.FAILURE, NotifyEvent.FINAL_FAILURE)
    status = {"start": "running", "success": "succeeded", "missed": "skipped"}.get(event, "failed")
    payload = {
        "event": event,
        "process": "example",
        "run_id": f"example/{now:%Y-%m-%d_%H-%M-%S}",
        "status": status if event != "test" else "succeeded",
        "trigger": "manual",
        "scheduled_for": None,
        "started": utc_text(now),
        "finished": None if event == "start" else utc_text(now),
        "duration": None if event == "start" else 0.0,
        "failed_thread": "product_pages" if failed else None,
        "exit_code": 1 if failed else None,
        "signal": None,
        "log_tail": ["a sample notification sent by 'taskctl notify test'"],
        "workspace": workspace_name,
    }
    return payload


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES, max_bytes: int = 64 * 1024) -> list[str]:
    """The last `lines` lines of a log (reading at most its last `max_bytes`); [] if it cannot be read."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, size - max_bytes))
            data = log.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace").splitlines()
    if len(data) == max_bytes and size > max_bytes:
        text = text[1:]  # the first line is cut
    return text[-lines:]


# -- delivery ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryOutcome:
    """How one POST went: `delivered` on a 2xx; `status` is the last HTTP status (None if none came)."""

    target: str
    event: str
    host: str
    delivered: bool
    status: int | None
    attempts: int
    error: str | None
    seconds: float

    def summary(self) -> str:
        """One line for a run's console log: `notify ops (hooks.example.com): delivered (HTTP 204) ...`."""
        tries = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        if self.delivered:
            return f"notify {self.target} ({self.host}): {self.event} delivered (HTTP {self.status}), {tries}"
        return f"notify {self.target} ({self.host}): {self.event} not delivered after {tries}: {self.error}"

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "event": self.event,
            "host": self.host,
            "delivered": self.delivered,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeliveryOutcome:
        """The outcome as `to_json` wrote it (in run.json)."""
        return cls(
            target=str(data.get("target", "?")),
            event=str(data.get("event", "")),
            host=str(data.get("host", "?")),
            delivered=bool(data.get("delivered")),
            status=data.get("status"),
            attempts=int(data.get("attempts", 0)),
            error=data.get("error"),
            seconds=float(data.get("seconds", 0.0)),
        )


class _AttemptFailed(Exception):
    """One POST that did not get a 2xx; `retry` says whether another attempt may do better."""

    def __init__(self, message: str, status: int | None = None, retry: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retry = retry


def expand_headers(headers: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The headers with every `${NAME}` replaced from `environ`; raises ValueError naming a missing one."""

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ValueError(f"header reads ${{{name}}}, which is not set in the environment")
        return environ[name]

    return {key: _ENV_REFERENCE.sub(value_of, value) for key, value in headers.items()}


def deliver(
    name: str,
    target: NotifyTarget,
    payload: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
    attempts: int = ATTEMPTS,
    backoff: Sequence[float] = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryOutcome:
    """POST `payload` as JSON to `target`, retrying connection errors, timeouts, 408, 429 and 5xx.

    Never raises for a delivery problem: the outcome says what happened. Redirects are not followed (a POST
    would turn into a GET); other 4xx answers are final.
    """
    begin = time.monotonic()
    host = urllib.parse.urlsplit(target.url).hostname or "?"

    def outcome(delivered: bool, status: int | None, tries: int, error: str | None) -> DeliveryOutcome:
        event = str(payload.get("event", ""))
        return DeliveryOutcome(name, event, host, delivered, status, tries, error, time.monotonic() - begin)

    try:
        headers = expand_headers(target.headers, os.environ if environ is None else environ)
    except ValueError as error:
        return outcome(False, None, 0, str(error))
    body = json.dumps(payload, ensure_ascii=False).encode()
    request_headers = {"Content-Type": "application/json", "User-Agent": f"taskctl/{__version__}", **headers}
    status: int | None = None
    problem = ""
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            sleep(backoff[min(attempt - 2, len(backoff) - 1)])
        try:
            return outcome(True, _post(target.url, body, request_headers, timeout), attempt, None)
        except _AttemptFailed as failed:
            status, problem = failed.status, str(failed)
            if not failed.retry:
                return outcome(False, status, attempt, problem)
    return outcome(False, status, attempts, problem)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as answer:
        code = answer.code
        if 300 <= code < 400:
            where = answer.headers.get("Location", "elsewhere")
            message = f"HTTP {code}, a redirect to {where} (set the final URL in 'url:')"
        else:
            message = f"HTTP {code}{_body_excerpt(answer)}"
        raise _AttemptFailed(message, code, retry=code in _RETRIED_STATUSES) from None
    except (urllib.error.URLError, OSError) as failure:
        reason = getattr(failure, "reason", failure)
        text = "timed out" if isinstance(reason, TimeoutError) else str(reason)
        raise _AttemptFailed(f"no answer ({text})") from None


def _body_excerpt(answer: urllib.error.HTTPError) -> str:
    try:
        text = answer.read(300).decode("utf-8", errors="replace").strip()
    except OSError:
        return ""
    return f": {' '.join(text.split())[:200]}" if text else ""


# -- in the background --------------------------------------------------------------------------------


class Notifier:
    """Sends a process's notifications on background threads; the runner and the daemon hold one each.

    `on_outcome` is called on the delivering thread once per POST (it must be thread-safe, e.g. append a
    line to the run's console log under a lock). A short-lived process (`taskctl run`) calls `wait()` before
    it exits, or its deliveries die with it.
    """

    def __init__(
        self,
        config: LoadedConfig,
        on_outcome: Callable[[DeliveryOutcome], None] | None = None,
        deliver_one: Callable[[str, NotifyTarget, Mapping[str, Any]], DeliveryOutcome] = deliver,
    ) -> None:
        names = {name: list(process.notify) for name, process in config.processes.items()}
        self._setup(dict(config.settings.notify), names, config.workspace.root.name, on_outcome, deliver_one)

    @classmethod
    def for_process(
        cls,
        process: str,
        targets: Sequence[tuple[str, NotifyTarget]],
        workspace_name: str,
        on_outcome: Callable[[DeliveryOutcome], None] | None = None,
        deliver_one: Callable[[str, NotifyTarget, Mapping[str, Any]], DeliveryOutcome] = deliver,
    ) -> Notifier:
        """A notifier for the runs of one process, given the targets it names (`ResolvedProcess.notify`)."""
        notifier = cls.__new__(cls)
        names = {process: [name for name, _ in targets]}
        notifier._setup(dict(targets), names, workspace_name, on_outcome, deliver_one)
        return notifier

    def _setup(
        self,
        targets: dict[str, NotifyTarget],
        names: dict[str, list[str]],
        workspace_name: str,
        on_outcome: Callable[[DeliveryOutcome], None] | None,
        deliver_one: Callable[[str, NotifyTarget, Mapping[str, Any]], DeliveryOutcome],
    ) -> None:
        self._targets = targets
        self._names = names
        self._workspace_name = workspace_name
        self._on_outcome = on_outcome
        self._deliver = deliver_one
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def run_started(self, run: RunFacts) -> int:
        """Tell the `start` targets of `run.process`; returns how many POSTs were started."""
        return self._send_run(run, [NotifyEvent.START])

    def attempt_failed(self, run: RunFacts, thread: str) -> int:
        """A thread's attempt failed and will be retried: tell the `failure` targets."""
        return self._send_run(run, [NotifyEvent.FAILURE], failed_thread=thread)

    def run_finished(self, run: RunFacts) -> int:
        """Tell the targets of the event the run's status raises (success, final_failure/failure, missed)."""
        return self._send_run(run, events_at_end(str(run.status)))

    def slot_missed(self, process: str, scheduled_for: datetime, reason: str) -> int:
        """A slot of `process` that will not run (downtime past misfire_grace, catch_up: none, ...)."""
        chosen = targets_for(self._targets, self._names.get(process, []), [NotifyEvent.MISSED])
        payload = missed_payload(process, scheduled_for, reason, self._workspace_name)
        return self._start(chosen, payload)

    def pending(self) -> int:
        """How many deliveries are still going."""
        with self._lock:
            return sum(thread.is_alive() for thread in self._threads)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the deliveries started so far; False if some are still going after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def _send_run(self, run: RunFacts, events: list[NotifyEvent], failed_thread: str | None = None) -> int:
        chosen = targets_for(self._targets, self._names.get(run.process, []), events)
        if not chosen:
            return 0
        tail = read_log_tail(run.folder / CONSOLE_LOG)
        started = 0
        for name, target, event in chosen:
            payload = run_payload(event, run, self._workspace_name, tail, failed_thread)
            started += self._start([(name, target, event)], payload)
        return started

    def _start(self, chosen: list[tuple[str, NotifyTarget, NotifyEvent]], payload: dict[str, Any]) -> int:
        for name, target, _event in chosen:
            thread = threading.Thread(
                target=self._deliver_and_report,
                args=(name, target, payload),
                name=f"notify-{name}",
                daemon=True,
            )
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()
        return len(chosen)

    def _deliver_and_report(self, name: str, target: NotifyTarget, payload: Mapping[str, Any]) -> None:
        outcome = self._deliver(name, target, payload)
        if self._on_outcome is not None:
            self._on_outcome(outcome)


def send_test(config: LoadedConfig, target_name: str, event: str, now: datetime) -> DeliveryOutcome:
    """POST a sample payload once (no retries) to the target called `target_name`, for `notify test`."""
    from taskctl.errors import UsageError, not_found

    target = config.settings.notify.get(target_name)
    if target is None:
        raise not_found(
            "notify target",
            target_name,
            config.settings.notify,
            "declare it under 'notify:' in config/taskctl.yaml",
        )
    events = ["test", *(e.value for e in NotifyEvent)]
    if event not in events:
        raise UsageError(f"'{event}' is not a notify event; use one of {', '.join(events)}.")
    return deliver(target_name, target, sample_payload(event, config.workspace.root.name, now), attempts=1)
