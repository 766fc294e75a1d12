"""Firing schedules: each due tick becomes exactly one ANALYZE job, on whichever replica.

Every replica runs the same loop (`pgsage.periodic`, every `schedule_poll_interval`), and
between two polls an alarm set for the nearest tick, so that a tick is fired when it comes,
by whichever replica gets there first. One round takes the due schedules in batches, each
batch one transaction:

1. `SELECT ... WHERE NOT paused AND next_run_time <= now() ... FOR UPDATE SKIP LOCKED`: the
   rows are this transaction's until it ends; another replica skips them (and takes others);
2. one statement inserts a PENDING job per schedule (its `schedule_id` and `schedule_time`,
   the tick), writes their `created` events, NOTIFYs the dispatchers, and moves each
   schedule's `next_run_time` to its first tick after now;
3. one statement appends the audit records (actor `pgsage scheduler`, on behalf of the
   schedule's creator); then COMMIT.

So the database decides: a tick's job and the move past that tick commit together or not at
all. A replica killed half way leaves nothing (its transaction dies with its connection, the
rows unlock, the next round anywhere fires them); `uq_job_schedule_id_schedule_time` makes a
second job for one tick impossible anyway. A schedule whose ticks were missed while no
replica ran is found due once, fires once (for its oldest missed tick, the audit record
saying how many were missed), and its next tick is the first after now, not the next missed.
"""

# Statements here are assembled from constant fragments and numbered placeholders only.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from croniter import CroniterError

from job_service import audit, cron, database, jobs, names
from job_service.models import sql_value
from job_service.vocabulary import JobKind, JobState
from pgsage import errors, failpoints, periodic, tasks

log = logging.getLogger(__name__)

ACTOR = "pgsage scheduler"
# Missed ticks counted for the audit record, at most (a per-second schedule down for a day).
_MAX_COUNTED = 1000

_DUE = """
SELECT id, cron, time_zone, next_run_time, target, creator, now() AS now FROM schedule
WHERE NOT paused AND next_run_time <= now()
ORDER BY next_run_time
LIMIT $1
FOR UPDATE SKIP LOCKED"""

_FIRE = f"""
WITH f AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[])
        AS f(schedule_id, job_id, schedule_time, next_run_time)
), ins AS (
    INSERT INTO job (id, kind, state, target, analysis_types, options, max_attempts, creator,
                     schedule_id, schedule_time)
    SELECT f.job_id, {sql_value(JobKind.ANALYZE)}, {sql_value(JobState.PENDING)}, s.target,
           s.analysis_types,
           s.options, $5, 'schedule:' || s.id, s.id, f.schedule_time
    FROM f JOIN schedule AS s ON s.id = f.schedule_id
    RETURNING *
), e AS (
    INSERT INTO job_event (job_id, revision, event_type, event_time, snapshot)
    SELECT id, revision, 'created', create_time, to_jsonb(ins) - 'workload' FROM ins
), adv AS (
    UPDATE schedule AS s SET next_run_time = f.next_run_time, last_run_time = now(),
                             last_job_id = f.job_id
    FROM f WHERE s.id = f.schedule_id
)
SELECT id, {jobs.NOTIFY} FROM ins"""

# Seconds to the nearest tick of a running schedule (negative: one is due already).
_NEAREST = """
SELECT extract(epoch FROM min(next_run_time) - clock_timestamp())::float8 FROM schedule
WHERE NOT paused"""

_BROKEN = """
UPDATE schedule SET paused = true, next_run_time = NULL, version = version + 1,
                    update_time = now()
WHERE id = ANY($1::uuid[])"""


def _missed(schedule: cron.Cron, due: datetime, now: datetime) -> int:
    """How many ticks after `due` also passed by `now` (capped)."""
    count, tick = 0, due
    while count < _MAX_COUNTED:
        tick = schedule.next_after(tick)
        if tick > now:
            break
        count += 1
    return count


def _next_and_missed(
    schedule: cron.Cron, due: datetime, now: datetime
) -> tuple[datetime, int] | None:
    """The first tick after `now` and how many after `due` passed by then; None when the
    stored cron no longer reads (a time zone gone from the system's database)."""
    try:
        return schedule.next_after(now), _missed(schedule, due, now)
    except (CroniterError, ValueError, KeyError, OverflowError):
        return None


class Scheduler:
    """Fires due schedules of the job store (see the module docstring)."""

    def __init__(self, db: database.Database, *, max_attempts: int, batch: int = 100) -> None:
        self._db = db
        self._max_attempts = max_attempts
        self._batch = batch
        self.fired = 0  # jobs this process created for ticks
        self._interval = 1.0
        self._alarm: asyncio.Task[None] | None = None

    async def fire_due(self) -> int:
        """Fires every schedule due now, a batch per transaction; returns how many."""
        total = 0
        while True:
            fired, full = await self._fire_batch()
            total += fired
            if not full:
                return total

    async def _fire_batch(self) -> tuple[int, bool]:
        """One batch in one transaction: (jobs created, whether the batch was full)."""
        async with self._db.transaction() as conn:
            rows = await conn.fetch(_DUE, self._batch)
            if not rows:
                return 0, False
            fire: list[tuple[uuid.UUID, uuid.UUID, datetime, datetime]] = []
            entries: list[audit.Entry] = []
            broken: list[uuid.UUID] = []
            # The calendar arithmetic (~0.5 ms a call) once per distinct cron and tick of the
            # batch: schedules mostly share a few crons.
            memo: dict[tuple[str, str, datetime], tuple[datetime, int] | None] = {}
            for row in rows:
                due, now = row["next_run_time"], row["now"]
                key = (row["cron"], row["time_zone"], due)
                if key not in memo:
                    memo[key] = _next_and_missed(cron.Cron(row["cron"], row["time_zone"]), due, now)
                known = memo[key]
                if known is None:
                    broken.append(row["id"])
                    continue
                following, missed = known
                job_id = uuid.uuid4()
                fire.append((row["id"], job_id, due, following))
                name = names.schedule_name(row["id"])
                late = f"; {missed} later tick(s) passed meanwhile, run with it" if missed else ""
                entries.append(
                    audit.Entry(
                        actor=ACTOR,
                        actor_subject=f"pgsage:{name}",
                        authenticated=True,
                        action=f"job.create.{JobKind.ANALYZE.lower()}",
                        resource=name,
                        job_id=job_id,
                        target=row["target"],
                        outcome="OK",
                        detail=f"{names.job_name(job_id)} created for the tick of "
                        f"{due.isoformat()}{late}; next tick {following.isoformat()}",
                        on_behalf_of=row["creator"],
                    )
                )
            if fire:
                log.info(
                    "firing %d schedule tick(s) due from %s to %s",
                    len(fire),
                    fire[0][2].isoformat(),
                    fire[-1][2].isoformat(),
                )
                columns = [list(c) for c in zip(*fire, strict=True)]
                await conn.fetch(_FIRE, *columns, self._max_attempts)
                await audit.record_many(conn, entries)
            if broken:
                log.warning("paused %d schedule(s) whose cron no longer reads", len(broken))
                await conn.execute(_BROKEN, broken)
            await failpoints.hit("schedule_fire")
        self.fired += len(fire)
        return len(fire), len(rows) == self._batch

    async def _round(self) -> None:
        """Fires what is due, then sets the alarm for the nearest tick (if it comes before
        the next poll)."""
        await self.fire_due()
        async with self._db.connection() as conn:
            delay = await conn.fetchval(_NEAREST)
        if delay is not None and delay < self._interval:
            self._arm(max(float(delay), 0.0))

    def _arm(self, delay: float) -> None:
        if self._alarm is not None and not self._alarm.done():
            self._alarm.cancel()
        self._alarm = asyncio.create_task(self._ring(delay), name="schedule alarm")

    async def _ring(self, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            await self.fire_due()
        except errors.PgsageError as exc:
            log.warning("schedule ticks skipped: %s", exc.message)
        except Exception:
            log.exception("schedule ticks failed unexpectedly")

    @contextlib.asynccontextmanager
    async def running(self, interval: float) -> AsyncIterator[None]:
        """Fires due schedules while the block runs: every `interval` seconds, and at the
        nearest tick when that comes sooner (so a tick waits for the job store, not for the
        next poll; a new schedule's first tick may wait up to one poll)."""
        self._interval = interval
        try:
            async with periodic.every(interval, self._round, name="schedule ticks"):
                yield
        finally:
            if self._alarm is not None:
                await tasks.stop(self._alarm)
