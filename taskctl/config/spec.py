"""The pydantic models that validate the config files. Unknown keys are errors everywhere.

What passes is kept as the plain values of `taskctl.config.models` (`plain` is the form in between); only a
config file that changed since the last load is validated here, so most commands never import pydantic.

The JSON Schema for editors (`taskctl schema`) is generated from these same models, so it accepts what taskctl
accepts: a shorthand that a validator expands (`schedule: daily at 06:00`, `retries: 2`) declares its input
type for the schema.
"""

from __future__ import annotations

import json
import zoneinfo
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from taskctl.config.models import (
    CatchUp,
    IntoSkus,
    NotifyEvent,
    OnFailure,
    Overlap,
    ThreadType,
    scalar_text,
    to_json,
)
from taskctl.units import parse_duration, parse_size


def _duration(value: Any) -> float:
    if not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a duration (use e.g. 90s, 10m, 2h, 1d, 1h30m)")
    return parse_duration(value)


def _size(value: Any) -> int:
    if not isinstance(value, str | int):
        raise ValueError(f"{value!r} is not a size (use e.g. 50MB, 512KB, 1GB)")
    return parse_size(value)


_DURATION_SCHEMA = {
    "anyOf": [
        # what parse_duration reads: number+unit parts (any case, spaces between), or a bare number
        {
            "type": "string",
            "pattern": r"^\s*(\d+(\.\d+)?\s*([mM][sS]|[sSmMhHdDwW])\s*)+$|^\s*\d+(\.\d+)?\s*$",
        },
        {"type": "number", "minimum": 0},
    ],
    "description": "a duration: 90s, 10m, 2h, 1d, 1h30m (a bare number is seconds)",
}

Duration = Annotated[float, BeforeValidator(_duration), WithJsonSchema(_DURATION_SCHEMA)]
Size = Annotated[
    int,
    BeforeValidator(_size),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}], "description": "e.g. 50MB"}),
]

ScheduleSpec = Annotated[
    str | dict[str, Any],
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "description": "cron ('30 2 * * *', '@daily'), 'every 6 hours', 'daily at 10:30', "
                    "'weekdays at 09:00', 'monday at 09:00', or a one-shot '2026-12-24 18:00'",
                },
                {
                    "type": "object",
                    "properties": {
                        "cron": {"type": "string"},
                        "every": {"type": "string"},
                        "at": {"type": "string"},
                    },
                    "minProperties": 1,
                    "maxProperties": 1,
                    "additionalProperties": False,
                },
            ]
        }
    ),
]


def _one_or_many(value: Any) -> Any:
    """`schedule: daily at 06:00` is short for a one-item list."""
    return [value] if isinstance(value, str | dict) else value


Schedules = Annotated[
    list[ScheduleSpec],
    BeforeValidator(_one_or_many, json_schema_input_type=ScheduleSpec | list[ScheduleSpec]),
]


class _Strict(BaseModel):
    # frozen: a loaded config is never changed in place (a reload builds a new one), so a running chain keeps
    # the definition it started with
    model_config = ConfigDict(extra="forbid", use_enum_values=False, validate_default=True, frozen=True)


class Retries(_Strict):
    count: int = Field(0, ge=0, le=100, description="attempts after the first one")
    delay: Duration = Field(0.0, description="wait before the first retry")
    backoff: float = Field(1.0, ge=1.0, le=100.0, description="each further delay is multiplied by this")


_RetryCount = Annotated[int, Field(ge=0, le=100)]


def _retries_shorthand(value: Any) -> Any:
    """`retries: 2` is short for `retries: {count: 2}`."""
    return {"count": value} if isinstance(value, int) and not isinstance(value, bool) else value


class Defaults(_Strict):
    """Values that processes and threads inherit unless they set their own."""

    timeout: Duration | None = Field(None, description="per thread; none = no limit")
    overlap: Overlap = Overlap.SKIP
    catch_up: CatchUp = CatchUp.LATEST
    misfire_grace: Duration = Field(3600.0, description="how late a missed slot may still start")
    on_failure: OnFailure = OnFailure.STOP
    max_log_size: Size = Field(50 * 1024 * 1024, description="per thread log cap (head and tail kept)")
    kill_grace: Duration = Field(10.0, description="between SIGTERM and SIGKILL on timeout or cancel")


class Retention(_Strict):
    """Which finished runs `taskctl prune` (and the daemon) keep, per process; unset keys keep everything."""

    keep_runs: int | None = Field(None, ge=1, description="finished runs kept per process")
    max_age: Duration | None = Field(None, description="finished runs older than this are removed")
    max_total_size: Size | None = Field(None, description="run folders kept per process, newest first")


class NotifyTarget(_Strict):
    url: str = Field(pattern=r"^https?://", description="webhook URL (http or https)")
    on: list[NotifyEvent] = Field(default_factory=lambda: [NotifyEvent.FAILURE])
    headers: dict[str, str] = Field(default_factory=dict, description="values may read ${ENV_VAR}")


class DaemonSettings(_Strict):
    """How `taskctl daemon` behaves."""

    shutdown_grace: Duration = Field(
        30.0, description="on stop, how long running chains may finish before they are stopped (cancelled)"
    )


def _zone_name(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"'{value}' is not an IANA time zone (use a name like Europe/Berlin or America/New_York)"
        ) from None
    return value


ZoneName = Annotated[str, Field(description="IANA time zone name, e.g. Europe/Berlin")]


class Settings(_Strict):
    """config/taskctl.yaml."""

    timezone: ZoneName | None = None
    max_parallel_runs: int = Field(4, ge=1, le=1000)
    defaults: Defaults = Field(default_factory=Defaults)
    retention: Retention = Field(default_factory=Retention)
    notify: dict[str, NotifyTarget] = Field(default_factory=dict)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)

    _check_zone = field_validator("timezone")(_zone_name)


class SkuSelection(_Strict):
    """Which rows of the SKU table make a thread's input: the filters of `taskctl sku list`, and `stale`."""

    search: str | None = Field(None, description="text in the sku or the name (case-insensitive)")
    base_sku: str | None = Field(None, description="only this family")
    min_rating: float | None = Field(None, ge=0, le=5, description="only rows rated at least this")
    unrated: bool = Field(False, description="only rows without a rating")
    limit: int | None = Field(None, ge=1, description="at most this many rows (default: all)")
    stale: Duration | None = Field(
        None, description="only rows not updated for this long (then the stalest come first)"
    )

    @model_validator(mode="after")
    def _rated_or_unrated(self) -> SkuSelection:
        if self.unrated and self.min_rating is not None:
            raise ValueError("'unrated' and 'min_rating' exclude each other; keep one of them")
        return self


def _empty_selection(value: Any) -> Any:
    """`skus:` with nothing after it selects every row."""
    return {} if value is None else value


class SkuInput(_Strict):
    """`input: {skus: QUERY}`: the input CSV is built from the SKU table when the thread starts."""

    skus: Annotated[SkuSelection, BeforeValidator(_empty_selection)]
    required: bool = Field(False, description="true: an empty selection fails the thread")


def _input_kind(value: Any) -> str:
    return "file-input" if isinstance(value, str) else "sku-input"


INPUT_TAGS = ("file-input", "sku-input")  # where pydantic puts them in error locations, the loader drops them
ThreadInput = Annotated[
    Annotated[str, Tag("file-input")] | Annotated[SkuInput, Tag("sku-input")],
    Discriminator(_input_kind),
]


class ThreadOutput(_Strict):
    """`output: {file, into_skus}`: after the thread succeeds, the file (in the run folder) is imported into
    the SKU table, only the SKU columns it has."""

    file: str = Field(description="a CSV the thread writes in the run folder, e.g. results.csv")
    into_skus: IntoSkus = Field(IntoSkus.UPDATE, description="what a row whose sku exists does")


# Numbers and true/false are read as their text (`PORT: 8080`), as `_env_values_are_text` does.
_ENV_SCHEMA = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}


class ThreadConfig(_Strict):
    """One thread: a script, a command, inline code, a Python callable or a pytest run, in a run folder."""

    type: ThreadType = ThreadType.OTHERS
    script: str | None = Field(None, description="file inside threads/<name>/ (default main.py)")
    command: list[str] | str | None = Field(None, description="argv list, or a string split like a shell")
    code: str | None = Field(None, description="inline Python")
    func: str | None = Field(
        None, description="'module:callable', imported from threads/<name>/ or the thread's environment"
    )
    test: str | None = Field(None, description="a path inside threads/<name>/ that pytest runs")
    input: ThreadInput | None = Field(
        None, description="input CSV inside threads/<name>/, or {skus: QUERY} from the SKU table"
    )
    output: ThreadOutput | None = None
    args: list[Any] = Field(
        default_factory=list, description="command-line arguments (text); for func: positional arguments"
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="for func: keyword arguments")
    env: Annotated[dict[str, str], WithJsonSchema(_ENV_SCHEMA)] = Field(default_factory=dict)
    timeout: Duration | None = None
    retries: Annotated[
        Retries, BeforeValidator(_retries_shorthand, json_schema_input_type=_RetryCount | Retries)
    ] = Field(default_factory=Retries)
    requirements: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    description: str | None = None
    schedule: Schedules = Field(default_factory=list)
    timezone: ZoneName | None = None
    enabled: bool = Field(
        True, description="false: the thread's own schedule does not fire (it still runs by hand)"
    )

    _check_zone = field_validator("timezone")(_zone_name)

    @field_validator("env", mode="before")
    @classmethod
    def _env_values_are_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v if isinstance(v, str) else scalar_text(v) for k, v in value.items()}
        return value


class ProcessConfig(_Strict):
    """A chain of threads run in series, on any number of schedules."""

    threads: list[str] = Field(min_length=1)
    schedule: Schedules = Field(default_factory=list)
    timezone: ZoneName | None = None
    on_failure: OnFailure | None = None
    overlap: Overlap | None = None
    max_instances: int = Field(1, ge=1, le=100)
    catch_up: CatchUp | None = None
    misfire_grace: Duration | None = None
    timeout: Duration | None = Field(None, description="for the whole chain")
    enabled: bool = Field(True, description="false: not scheduled (it still runs by hand)")
    notify: list[str] = Field(default_factory=list)
    retention: Retention | None = Field(None, description="overrides the settings' retention, key by key")
    tags: list[str] = Field(default_factory=list)
    description: str | None = None

    _check_zone = field_validator("timezone")(_zone_name)


class ConfigFile(_Strict):
    """What any file under config/ may declare (the schema; the loader validates entry by entry)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    threads: dict[str, ThreadConfig] = Field(default_factory=dict)
    processes: dict[str, ProcessConfig] = Field(default_factory=dict)


class SettingsFile(Settings, ConfigFile):
    """config/taskctl.yaml: the settings, and threads/processes like any other file."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


def schema_text() -> str:
    """The JSON Schema as `taskctl schema` prints it (and as `SCHEMA_FILE` holds it)."""
    return json.dumps(config_json_schema(), indent=2, ensure_ascii=False) + "\n"


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of a config file, for editors (yaml-language-server)."""
    schema = SettingsFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "taskctl config"
    for section in ("threads", "processes"):
        schema["properties"][section]["propertyNames"] = {"pattern": "^[a-z0-9][a-z0-9_-]*$"}
    return schema


def plain(model: BaseModel) -> dict[str, Any]:
    """A validated entry as plain data with the keys the file set (and what they imply), the form the values
    of `taskctl.config.models` are built from and the config cache keeps. Values of any type (a thread's
    `args` and `kwargs`) stay as YAML gave them: a date is reported by the loader, not turned into text."""
    return dict(to_json(model.model_dump(exclude_unset=True)))
