"""Job change notifications: ONE listening connection per process, fanned out to watchers.

Every job change sends `NOTIFY pgsage_jobs '<job id> <revision> <state>'` in its
transaction, so the notification arrives only once the change is committed, on every
replica. The listener wakes the watchers of that job; they read what changed from
`job_event` (the notification is only a doorbell, so a lost one costs latency, never an
event). A job that became PENDING also wakes the dispatcher (`on_runnable`); other changes
do not, so a busy store does not make idle dispatchers poll for work that is not there. When the
listening connection breaks, every watcher is woken to re-read, and the listener
reconnects with backoff.

The same connection LISTENs on `pgsage_api_tokens`: a revoked API token is dropped from
every replica's cache of verified tokens (`on_token_revoked`); when the connection breaks,
those caches are flushed, since a revocation may have been missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

import asyncpg

from job_service import database, jobs, tokens

log = logging.getLogger(__name__)


class Subscription:
    """A watcher's doorbell for one job; it also remembers the highest revision rung."""

    def __init__(self, job_id: uuid.UUID) -> None:
        self.job_id = job_id
        self._event = asyncio.Event()
        self._revision = 0
        self._unknown = False

    def ring(self, revision: int | None = None) -> None:
        """`revision`: the job's revision after the change; None when unknown (the
        listener reconnected, or is closing): whoever listens must re-read."""
        if revision is None:
            self._unknown = True
        else:
            self._revision = max(self._revision, revision)
        self._event.set()

    def take(self) -> int | None:
        """The highest revision rung since the last `take` (0: none), or None when a ring
        without one came; resets both."""
        revision, unknown = self._revision, self._unknown
        self._revision, self._unknown = 0, False
        return None if unknown else revision

    async def wait(self, seconds: float) -> bool:
        """Waits for a ring (True) or `seconds` (False); clears the bell."""
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return False
        self._event.clear()
        return True


class Listener:
    """LISTENs on `pgsage_jobs` and rings the subscriptions of the job each payload names."""

    def __init__(self, dsn: str, *, connect_timeout: float = 3.0) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._subscriptions: dict[uuid.UUID, set[Subscription]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._on_runnable: list[Callable[[], None]] = []
        self._on_token_revoked: list[Callable[[str | None], None]] = []
        self.closing = False

    def on_runnable(self, callback: Callable[[], None]) -> None:
        """Calls `callback` when a job became PENDING, and on every reconnect (anything may
        have changed meanwhile): the dispatcher's wake-up."""
        self._on_runnable.append(callback)

    def on_token_revoked(self, callback: Callable[[str | None], None]) -> None:
        """Calls `callback` with the id of each revoked API token, and with None whenever a
        revocation may have been missed (the listening connection broke or reconnected)."""
        self._on_token_revoked.append(callback)

    def token_revoked(self, token_id: str) -> None:
        """Tells this process's callbacks at once that `token_id` was revoked (the replica
        that revoked it need not wait for its own NOTIFY to come back)."""
        for callback in self._on_token_revoked:
            callback(token_id)

    def _on_token_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.token_revoked(payload)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="job-notifications")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._connected.wait()
        return self._connected.is_set()

    @contextlib.asynccontextmanager
    async def subscribe(self, job_id: uuid.UUID) -> AsyncIterator[Subscription]:
        subscription = Subscription(job_id)
        self._subscriptions[job_id].add(subscription)
        try:
            yield subscription
        finally:
            subs = self._subscriptions.get(job_id)
            if subs is not None:
                subs.discard(subscription)
                if not subs:
                    del self._subscriptions[job_id]

    def _ring_all(self) -> None:
        for revoked in self._on_token_revoked:
            revoked(None)
        for callback in self._on_runnable:
            callback()
        for subs in self._subscriptions.values():
            for sub in subs:
                sub.ring()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        job_text, revision_text, state, *_ = [*payload.split(" "), "", ""]
        if state in ("PENDING", ""):  # "": a payload without a state (an older replica)
            for callback in self._on_runnable:
                callback()
        try:
            job_id = uuid.UUID(job_text)
        except ValueError:
            return
        revision = int(revision_text) if revision_text.isdigit() else None
        for sub in self._subscriptions.get(job_id, ()):
            sub.ring(revision)

    async def _run(self) -> None:
        backoff = 0.2
        while not self.closing:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self._dsn,
                    timeout=self._connect_timeout,
                    # Seen in pg_stat_activity as the job service's, like its pool's sessions.
                    server_settings={"application_name": "pgsage-jobs-listen"},
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(jobs.CHANNEL, self._on_notify)
                await conn.add_listener(tokens.CHANNEL, self._on_token_notify)
                self._connected.set()
                backoff = 0.2
                # Changes made while we were not listening: every watcher re-reads.
                self._ring_all()
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(5):
                            await lost.wait()
                    if not lost.is_set():
                        # A quiet connection can die silently; a query finds out.
                        await conn.fetchval("SELECT 1", timeout=self._connect_timeout)
                log.warning("job notifications lost: the listening connection closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._connected.is_set() or backoff == 0.2:
                    log.warning("job notifications lost: %s", database.describe(exc))
            finally:
                self._connected.clear()
                self._ring_all()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 1)
            if not self.closing:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def close(self) -> None:
        """Stops listening; watchers are woken so they notice the shutdown."""
        self.closing = True
        self._ring_all()
        if self._task is not None:
            self._task.cancel()
            # Waits for it to stop without taking its cancellation for ours: a cancel of
            # this call still propagates.
            await asyncio.wait([self._task])
