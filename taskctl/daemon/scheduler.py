"""The scheduling core: which slots are due, which were missed, and when to look again.

Pure: time is a parameter. The loop calls `tick(now)`, claims and starts the `due` runs, records the `missed`
slots, then calls `commit(tick)`; it sleeps until `tick.wake_at`. Nothing here reads the clock, sleeps, or
spawns anything.

Each (process, schedule) has a *cursor*: every slot at or before it has been handled (run, skipped or counted
missed). Cursors only move forward in slot time, so:

- a clock stepped back runs nothing twice: slots at or before the cursor are never due again, and the loop
  keeps waking once a minute until the clock passes the cursor;
- a clock stepped forward is treated like downtime: the slots it jumped over are late, and the process's
  `catch_up` policy decides which of them still start (slots less than a minute old simply run on time);
- a new or changed schedule starts from now (an edit never fires "missed" runs), an unchanged one keeps its
  cursor across reloads and restarts, a removed or disabled process loses its cursors.

Catch-up after downtime, per process: each due slot at most a minute late (`ON_TIME`) runs with trigger
`schedule` (so a loop that woke a few seconds late on a busy machine loses no slot of an `every 5 seconds`
schedule); every older due slot is late. `none` starts no late slot; `latest` starts the newest late slot
unless an on-time one runs; `all` starts each late slot, the newest `CATCH_UP_LIMIT` of them. A late slot
older than `misfire_grace` never starts. Late slots that do not start are *missed*: counted (never walked one
by one: a minutely process 30 days down costs about what an hour does) and reported as one `MissedSlots` per
process and tick.

The slot-claim ledger stays the final word on "one slot, one run": a due slot that is already claimed (a run
started before a restart whose cursor was not saved yet) is dropped here, and the loop's claim is atomic
anyway.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from taskctl.config.models import CatchUp
from taskctl.runs import Trigger
from taskctl.schedule import (
    DstNote,
    Fire,
    Schedule,
    count_fires_between,
    fires,
    fires_between,
    last_fires_between,
)

if TYPE_CHECKING:
    from taskctl.config import LoadedConfig

CATCH_UP_LIMIT = 100  # `catch_up: all` starts at most this many late slots, the newest ones
ON_TIME = timedelta(minutes=1)  # a due slot this late still runs as `schedule`, not as catch-up
MAX_SLEEP = timedelta(minutes=1)  # wake at least this often when nothing is due, so clock steps are noticed

CursorKey = tuple[str, str]  # (process, schedule_key(...))
OneShotKey = tuple[str, str]  # (process, the one-shot's text)


@dataclass(frozen=True)
class ScheduledProcess:
    """What the scheduler needs to know of one process."""

    name: str
    zone: ZoneInfo
    schedules: tuple[Schedule, ...]
    catch_up: CatchUp = CatchUp.LATEST
    misfire_grace: timedelta = timedelta(hours=1)
    enabled: bool = True


def scheduled_processes(config: LoadedConfig) -> dict[str, ScheduledProcess]:
    """The processes of a loaded config (scheduled threads included), as the scheduler sees them."""
    defaults = config.settings.defaults
    found = {}
    for name, process in config.processes.items():
        grace = process.misfire_grace if process.misfire_grace is not None else defaults.misfire_grace
        found[name] = ScheduledProcess(
            name=name,
            zone=config.zone_of(name),
            schedules=tuple(config.schedules.get(name, ())),
            catch_up=process.catch_up or defaults.catch_up,
            misfire_grace=timedelta(seconds=grace),
            enabled=process.enabled,
        )
    return found


def schedule_key(schedule: Schedule, zone: ZoneInfo) -> str:
    """The name a schedule's cursor is kept under: the same text in another zone is another schedule."""
    return f"{schedule.text} @ {zone.key}"


@dataclass(frozen=True)
class DueRun:
    """A slot to claim and run now."""

    process: str
    scheduled_for: datetime  # aware, UTC: the claim key with `process`
    trigger: Trigger  # SCHEDULE or CATCH_UP
    schedules: tuple[str, ...]  # the texts of the schedules that fire at this instant
    note: DstNote | None = None  # set when a clock change moved or repeated the slot


@dataclass(frozen=True)
class MissedSlots:
    """Late slots of one process that will never start: record them (one `skipped` row, reason `missed`)."""

    process: str
    count: int
    first: datetime  # the oldest missed slot, UTC
    last: datetime  # the newest missed slot, UTC
    reason: str = "missed"


@dataclass(frozen=True)
class Tick:
    """What one look at the clock decided. Nothing happens until the loop acts on it and calls `commit`."""

    now: datetime
    due: tuple[DueRun, ...]  # oldest first
    missed: tuple[MissedSlots, ...]
    wake_at: datetime  # look again at this instant, or earlier when an event comes
    cursors: Mapping[CursorKey, datetime] = field(default_factory=dict)  # moves to save
    following: Mapping[CursorKey, Fire | None] = field(default_factory=dict)  # next fires after the moves
    one_shots: Mapping[OneShotKey, datetime] = field(default_factory=dict)  # one-shots whose slot passed
    more: bool = False  # processes were left for the next tick (the budget ran out): tick again at once

    @property
    def missed_count(self) -> int:
        return sum(missed.count for missed in self.missed)


class SchedulerState(Protocol):
    """Where cursors and fired one-shots survive restarts, and where claimed slots are looked up."""

    def load_cursors(self) -> dict[CursorKey, datetime]:
        """Every saved cursor."""
        ...

    def save_cursors(self, cursors: Mapping[CursorKey, datetime]) -> None:
        """Insert or move these cursors (one transaction)."""
        ...

    def drop_cursors(self, keys: Collection[CursorKey]) -> None:
        """Forget these cursors (their schedule or process is gone)."""
        ...

    def load_fired_one_shots(self) -> set[OneShotKey]:
        """Every one-shot whose slot has passed."""
        ...

    def add_fired_one_shots(self, fired: Mapping[OneShotKey, datetime]) -> None:
        """Record one-shots whose slot passed, with the instant each stood for."""
        ...

    def claimed_slots(self, process: str, after: datetime, until: datetime) -> set[datetime]:
        """The slots of `process` in (after, until] that already have a run (or a skipped row)."""
        ...

    def latest_claim(self, process: str) -> datetime | None:
        """The newest slot of `process` that has a run (or a skipped row), None if none has."""
        ...


class InMemorySchedulerState:
    """A `SchedulerState` in dictionaries: for tests, and for a daemon that may forget everything."""

    def __init__(self) -> None:
        self.cursors: dict[CursorKey, datetime] = {}
        self.fired_one_shots: dict[OneShotKey, datetime] = {}
        self.claims: set[tuple[str, datetime]] = set()

    def load_cursors(self) -> dict[CursorKey, datetime]:
        return dict(self.cursors)

    def save_cursors(self, cursors: Mapping[CursorKey, datetime]) -> None:
        self.cursors.update(cursors)

    def drop_cursors(self, keys: Collection[CursorKey]) -> None:
        for key in keys:
            self.cursors.pop(key, None)

    def load_fired_one_shots(self) -> set[OneShotKey]:
        return set(self.fired_one_shots)

    def add_fired_one_shots(self, fired: Mapping[OneShotKey, datetime]) -> None:
        self.fired_one_shots.update(fired)

    def claimed_slots(self, process: str, after: datetime, until: datetime) -> set[datetime]:
        return {at for name, at in self.claims if name == process and after < at <= until}

    def latest_claim(self, process: str) -> datetime | None:
        return max((at for name, at in self.claims if name == process), default=None)

    def claim(self, process: str, scheduled_for: datetime) -> bool:
        """Claim a slot as the run service would: False if it already has a run."""
        if (process, scheduled_for) in self.claims:
            return False
        self.claims.add((process, scheduled_for))
        return True


@dataclass
class _Slot:
    at: datetime
    schedules: list[str]
    note: DstNote | None


class Scheduler:
    """The due slots of every process, from cursors kept in a `SchedulerState`.

    Example (the loop, without its edges):

        scheduler = Scheduler(state, scheduled_processes(config), clock.now())
        while running:
            tick = scheduler.tick(clock.now())
            ...claim and start tick.due, record tick.missed...
            scheduler.commit(tick)
            wait_for_event(until=tick.wake_at)
    """

    def __init__(
        self, state: SchedulerState, processes: Mapping[str, ScheduledProcess], now: datetime
    ) -> None:
        self._state = state
        self._cursors = state.load_cursors()
        self._fired = state.load_fired_one_shots()
        self._processes: dict[str, ScheduledProcess] = {}
        self._next: dict[CursorKey, Fire | None] = {}
        # Each scheduled process's schedules by key (one entry per key: a schedule written twice is one).
        self._keyed: dict[str, list[tuple[CursorKey, Schedule]]] = {}
        # No slot of a process after this one can have a run yet: the ledger as read once, and the slots
        # ticks have handed out since (only the daemon claims slots). A due slot after it needs no lookup.
        self._claimed_until: dict[str, datetime | None] = {}
        self.apply(processes, now)

    @property
    def processes(self) -> Mapping[str, ScheduledProcess]:
        return self._processes

    def cursor(self, process: str, schedule: Schedule) -> datetime | None:
        """Where the cursor of one schedule of a process stands (None if it is not scheduled)."""
        found = self._processes.get(process)
        return None if found is None else self._cursors.get((process, schedule_key(schedule, found.zone)))

    def cursors_of(self, process: str) -> dict[CursorKey, datetime]:
        """The in-memory cursors of every schedule of `process` (empty if it is not scheduled)."""
        return {key: self._cursors[key] for key, _ in self._keyed.get(process, ()) if key in self._cursors}

    def apply(self, processes: Mapping[str, ScheduledProcess], now: datetime) -> None:
        """Schedule exactly `processes` from now on (a reload): unchanged schedules keep their cursors, new or
        changed ones start at `now`, those of removed or disabled processes are forgotten."""
        wanted: dict[CursorKey, tuple[ScheduledProcess, Schedule]] = {}
        for process in processes.values():
            if process.enabled:
                for schedule in process.schedules:
                    wanted[(process.name, schedule_key(schedule, process.zone))] = (process, schedule)
        gone = [key for key in self._cursors if key not in wanted]
        if gone:
            self._state.drop_cursors(gone)
            for key in gone:
                del self._cursors[key]
        fresh = {key: now for key in wanted if key not in self._cursors}
        if fresh:
            self._state.save_cursors(fresh)
            self._cursors.update(fresh)
        self._processes = dict(processes)
        self._next = {}
        self._keyed = {}
        # Processes often share a schedule and a cursor (a thousand `0 * * * *` after the same downtime):
        # each such next fire is computed once (a one-shot's depends on its process: it may have fired).
        computed: dict[tuple[str, datetime] | CursorKey, Fire | None] = {}
        for key, (process, schedule) in wanted.items():
            cursor = self._cursors[key]
            same = key if schedule.kind == "once" else (key[1], cursor)
            if same not in computed:
                computed[same] = self._following(process, schedule, cursor)
            self._next[key] = computed[same]
            self._keyed.setdefault(process.name, []).append((key, schedule))

    def tick(self, now: datetime, budget: int | None = None) -> Tick:
        """The runs due at `now`, the slots missed since the last tick, and when to look again.

        `budget` bounds the work of one tick, in due slots looked at: a process catching up costs about the
        slots its policy may start (`catch_up: all`: ~100), an on-time one 1. Processes past the budget are
        left for the next tick (`Tick.more`, and `wake_at` is `now`), so a daemon back from a long downtime
        starts its first runs before it has worked out the whole backlog. At least one process is done per
        tick.
        """
        due: list[DueRun] = []
        missed: list[MissedSlots] = []
        cursors: dict[CursorKey, datetime] = {}
        following: dict[CursorKey, Fire | None] = {}
        one_shots: dict[OneShotKey, datetime] = {}
        more = False
        work = 0
        after: dict[tuple[str, datetime], Fire | None] = {}  # schedules shared by processes: computed once
        for process in self._processes.values():
            ready = [
                (key, s) for key, s in self._keyed.get(process.name, ()) if _due(self._next.get(key), now)
            ]
            if not ready:
                continue
            if budget is not None and work >= budget:
                more = True
                break
            runs, lost, cost = self._process_tick(process, ready, now, cursors, following, one_shots, after)
            work += cost
            due.extend(runs)
            if lost is not None:
                missed.append(lost)
        if more:
            wake_at = now
        else:
            pending = [fire.at for key, fire in {**self._next, **following}.items() if fire is not None]
            wake_at = min([now + MAX_SLEEP, *(at for at in pending if at > now)])
        due.sort(key=lambda run: (run.scheduled_for, run.process))
        return Tick(now, tuple(due), tuple(missed), wake_at, cursors, following, one_shots, more)

    def missed_slots(self, missed: MissedSlots, limit: int) -> list[datetime] | None:
        """The instants of the slots `missed` stands for, oldest first, or None if there are more than
        `limit` (or its process is no longer scheduled). Slots in that span that already have a run are
        listed too: recording them finds their claim taken."""
        process = self._processes.get(missed.process)
        if process is None or missed.count > limit:
            return None
        found: set[datetime] = set()
        before_first = missed.first - timedelta(microseconds=1)
        for _, schedule in self._keyed.get(process.name, ()):
            for fire in fires_between(schedule, process.zone, before_first, missed.last):
                found.add(fire.at)
                if len(found) > limit:
                    return None
        return sorted(found)

    def commit(self, tick: Tick) -> None:
        """Save what `tick` decided: call it after its due runs are claimed and its missed slots recorded."""
        # A reload between tick and commit may have dropped a schedule: its move is moot.
        moves = {key: max(at, self._cursors[key]) for key, at in tick.cursors.items() if key in self._cursors}
        if moves:
            self._state.save_cursors(moves)
        if tick.one_shots:
            self._state.add_fired_one_shots(tick.one_shots)
        for key, at in moves.items():
            self._cursors[key] = at
            self._next[key] = tick.following[key]
        self._fired.update(tick.one_shots)

    def next_runs(self) -> list[tuple[datetime, str]]:
        """(instant, process) of each scheduled process's next slot, soonest first: for `status`."""
        soonest: dict[str, datetime] = {}
        for (process, _), fire in self._next.items():
            if fire is not None and (process not in soonest or fire.at < soonest[process]):
                soonest[process] = fire.at
        return sorted((at, process) for process, at in soonest.items())

    def _following(self, process: ScheduledProcess, schedule: Schedule, after: datetime) -> Fire | None:
        if schedule.kind == "once" and (process.name, schedule.text) in self._fired:
            return None
        return next(fires(schedule, process.zone, after), None)

    def _process_tick(
        self,
        process: ScheduledProcess,
        ready: list[tuple[CursorKey, Schedule]],
        now: datetime,
        cursors: dict[CursorKey, datetime],
        following: dict[CursorKey, Fire | None],
        one_shots: dict[OneShotKey, datetime],
        after: dict[tuple[str, datetime], Fire | None],
    ) -> tuple[list[DueRun], MissedSlots | None, int]:
        """The runs and missed slots of one process, and the work it cost (due slots looked at). `after`:
        the fire after an instant, by schedule key, as this tick has computed them."""
        # The newest slots are all a policy needs: those on time, and the late ones it may start.
        keep = CATCH_UP_LIMIT + 2 if process.catch_up is CatchUp.ALL else 2
        slots: dict[datetime, _Slot] = {}
        total = 0
        cost = 0
        for key, schedule in ready:
            count, tail, next_fire = self._due_fires(process, key, schedule, now, keep, after)
            total += count
            cost += len(tail)
            for due_fire in tail:
                slot = slots.setdefault(due_fire.at, _Slot(due_fire.at, [], due_fire.note))
                slot.schedules.append(schedule.text)
                slot.note = slot.note or due_fire.note
            cursors[key], following[key] = tail[-1].at, next_fire
            if schedule.kind == "once":
                one_shots[(process.name, schedule.text)] = tail[-1].at
        # Two schedules firing at one instant are one slot (counted once among the newest slots).
        total -= sum(len(slot.schedules) - 1 for slot in slots.values())
        first = min(fire.at for key, _ in ready if (fire := self._next[key]))
        since = min(self._cursors[key] for key, _ in ready)
        if process.name not in self._claimed_until:
            self._claimed_until[process.name] = self._state.latest_claim(process.name)
        claimed_until = self._claimed_until[process.name]
        if claimed_until is not None and claimed_until > since:
            for at in self._state.claimed_slots(process.name, since, now) & slots.keys():
                del slots[at]  # it ran before a restart that came before its cursor was saved
                total -= 1
        ordered = sorted(slots.values(), key=lambda slot: slot.at)
        if not ordered:
            return [], None, cost
        # Claimed or recorded missed by the loop from now on (if the tick is not committed, the next looks).
        self._claimed_until[process.name] = max(ordered[-1].at, claimed_until or ordered[-1].at)
        return (*_apply_policy(process, ordered, max(total, len(ordered)), first, now), cost)

    def _due_fires(
        self,
        process: ScheduledProcess,
        key: CursorKey,
        schedule: Schedule,
        now: datetime,
        keep: int,
        after: dict[tuple[str, datetime], Fire | None],
    ) -> tuple[int, list[Fire], Fire | None]:
        """How many fires of one schedule are due, the newest `keep` of them, and the fire after them."""
        first = self._next[key]
        assert first is not None
        shared = (key[1], first.at)  # the key names the schedule and its zone: its fires depend on no more
        if shared not in after:
            after[shared] = next(fires(schedule, process.zone, first.at), None)
        after_first = after[shared]
        if after_first is None or after_first.at > now:  # the usual case: exactly one slot is due
            return 1, [first], after_first
        cursor = self._cursors[key]
        # Every slot at most ON_TIME late runs on time, so keep those too (a busy loop, not a downtime).
        keep += count_fires_between(schedule, process.zone, max(cursor, now - ON_TIME), now)
        tail = last_fires_between(schedule, process.zone, cursor, now, keep)
        return (
            count_fires_between(schedule, process.zone, cursor, now),
            tail,
            next(fires(schedule, process.zone, tail[-1].at), None),
        )


def _due(fire: Fire | None, now: datetime) -> bool:
    return fire is not None and fire.at <= now


def _apply_policy(
    process: ScheduledProcess, slots: list[_Slot], total: int, first: datetime, now: datetime
) -> tuple[list[DueRun], MissedSlots | None]:
    """Which of the due `slots` start, and what is missed. `slots` are the newest due slots, oldest first;
    `total` slots are due in all, the oldest at `first`."""
    if len(slots) == 1 and total == 1 and now - slots[0].at <= ON_TIME:  # the usual tick: one slot, on time
        return [_run(process, slots[0], Trigger.SCHEDULE)], None
    on_time = [slot for slot in slots if now - slot.at <= ON_TIME]
    late = slots[: len(slots) - len(on_time)]
    startable = [slot for slot in late if now - slot.at <= process.misfire_grace]
    if process.catch_up is CatchUp.ALL:
        started = startable[-CATCH_UP_LIMIT:]
    elif process.catch_up is CatchUp.LATEST and not on_time:
        started = startable[-1:]
    else:
        started = []
    runs = [_run(process, slot, Trigger.CATCH_UP) for slot in started]
    runs.extend(_run(process, slot, Trigger.SCHEDULE) for slot in on_time)
    missed = total - len(runs)
    if missed <= 0:
        return runs, None
    # Slots start from the newest backwards, so the missed ones are the oldest: from `first` on.
    started_at = {slot.at for slot in started}
    newest_missed = max(slot.at for slot in late if slot.at not in started_at)
    return runs, MissedSlots(process.name, missed, min(first, newest_missed), newest_missed)


def _run(process: ScheduledProcess, slot: _Slot, trigger: Trigger) -> DueRun:
    return DueRun(process.name, slot.at, trigger, tuple(slot.schedules), slot.note)
