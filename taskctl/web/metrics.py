"""/metrics in the Prometheus text format (version 0.0.4).

taskctl_runs{process,status}                      runs in the run index (gauge: prune removes runs)
taskctl_run_duration_seconds{process,quantile}    durations of the runs that started in the last 24 h
taskctl_run_duration_seconds_sum / _count         (a summary over that window)
taskctl_last_run_duration_seconds{process}        the newest finished run's duration
taskctl_missed_slots_24h{process}                 schedule slots recorded as missed in the last 24 h
taskctl_daemon_up                                 1 while a daemon runs for the workspace
taskctl_config_last_reload_timestamp_seconds      when the daemon last loaded the config
taskctl_config_last_reload_success                1 if that load was applied, 0 if the config was rejected
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from taskctl.runs import parse_utc
from taskctl.web.site import Site

WINDOW = timedelta(hours=24)
QUANTILES = (0.5, 0.9, 0.99)


def render_metrics(site: Site, status: dict[str, Any]) -> str:
    """The exposition text, from the run index and the status document."""
    from taskctl.runner.service import open_service

    now = site.now()
    with open_service(site.workspace, read_only=True) as service:
        store = service.store
        processes = store.processes()
        counts = {process: store.counts_by_status(process) for process in processes}
        finished = store.finished_durations(now - WINDOW)
    durations: dict[str, list[float]] = defaultdict(list)
    for process, _, seconds in finished:
        durations[process].append(seconds)
    out = _Exposition()
    out.family("taskctl_runs", "gauge", "Runs in the run index, by process and status.")
    for process in processes:
        for status_name, count in sorted(counts[process].items()):
            out.sample("taskctl_runs", {"process": process, "status": status_name}, count)
    out.family(
        "taskctl_run_duration_seconds", "summary", "Durations of the runs that started in the last 24 hours."
    )
    for process, values in sorted(durations.items()):
        ordered = sorted(values)
        for quantile in QUANTILES:
            index = min(len(ordered) - 1, int(quantile * len(ordered)))
            labels = {"process": process, "quantile": str(quantile)}
            out.sample("taskctl_run_duration_seconds", labels, ordered[index])
        out.sample("taskctl_run_duration_seconds_sum", {"process": process}, sum(values))
        out.sample("taskctl_run_duration_seconds_count", {"process": process}, len(values))
    out.family(
        "taskctl_last_run_duration_seconds",
        "gauge",
        "The duration of the newest finished run of the last 24 hours.",
    )
    for process, values in sorted(durations.items()):
        out.sample("taskctl_last_run_duration_seconds", {"process": process}, values[-1])
    out.family("taskctl_missed_slots_24h", "gauge", "Schedule slots recorded as missed in the last 24 hours.")
    for process, count in sorted(status["last_24h"]["missed_by_process"].items()):
        out.sample("taskctl_missed_slots_24h", {"process": process}, count)
    daemon = status["daemon"]
    out.family("taskctl_daemon_up", "gauge", "1 while a daemon runs for this workspace.")
    out.sample("taskctl_daemon_up", {}, 1 if daemon["running"] else 0)
    reload = parse_utc(daemon.get("last_reload")) if daemon["running"] else None
    if reload is not None:
        out.family(
            "taskctl_config_last_reload_timestamp_seconds", "gauge", "When the daemon last loaded the config."
        )
        out.sample("taskctl_config_last_reload_timestamp_seconds", {}, reload.timestamp())
        out.family(
            "taskctl_config_last_reload_success",
            "gauge",
            "1 if the daemon applied the config it last loaded, 0 if it rejected it.",
        )
        out.sample("taskctl_config_last_reload_success", {}, 0 if daemon.get("config_errors") else 1)
    return out.text()


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, labels: dict[str, str], value: float) -> None:
        shown = ",".join(f'{key}="{_escape(text)}"' for key, text in labels.items())
        number = repr(float(value)) if isinstance(value, float) else str(value)
        self.lines.append(f"{name}{{{shown}}} {number}" if shown else f"{name} {number}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
