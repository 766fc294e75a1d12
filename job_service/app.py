"""Assembling and running the job service: `start(settings)` → a running service.

Start-up order: the store (the configured PostgreSQL, or an embedded one in `data_dir`),
migrations, the notification listener, reconciliation, the gRPC server (JobService and
ScheduleService), the health monitors, the expiry sweep, the dispatcher, the schedule
ticks. Each part goes on one `AsyncExitStack` as it starts; `stop()` (or a failure half
way) unwinds it: NOT_SERVING first, running jobs handed back, watchers told to resume
elsewhere, drain, then the background tasks and connections close. Tests use `start`;
`python -m job_service` runs `serve` through `pgsage.server.main`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from job_service import (
    authn,
    authz,
    database,
    destinations,
    dispatcher,
    errors,
    expiry,
    metrics,
    monitors,
    notifications,
    oidc,
    optimizer,
    schedule_handlers,
    scheduler,
    schema,
    sealing,
    sender,
    servicer,
    webhook_handlers,
)
from job_service.settings import Settings
from pgsage import scrape, server
from pgsage import tls as pgsage_tls
from pgsage.embedded import EmbeddedPostgres
from pgsage.jobs.v1 import (
    job_service_pb2,
    job_service_pb2_grpc,
    schedule_pb2,
    schedule_pb2_grpc,
    webhook_pb2,
    webhook_pb2_grpc,
)
from pgsage.server import HealthPort

log = logging.getLogger(__name__)

SERVICE_NAME = job_service_pb2.DESCRIPTOR.services_by_name["JobService"].full_name
WEBHOOK_SERVICE_NAME = webhook_pb2.DESCRIPTOR.services_by_name["WebhookService"].full_name
SCHEDULE_SERVICE_NAME = schedule_pb2.DESCRIPTOR.services_by_name["ScheduleService"].full_name
EMBEDDED_DATABASE = "pgsage"


class EmbeddedStoreInUse(server.StartupError):
    """Another job service already runs on this embedded data directory."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=1)


@dataclass
class EmbeddedStore:
    """An embedded PostgreSQL this process owns, with the lock that makes it exclusive."""

    postgres: EmbeddedPostgres
    lock_file: IO[str]

    def stop(self) -> None:
        try:
            self.postgres.stop()
        finally:
            self.lock_file.close()


def _lock_embedded(data_dir: Path) -> IO[str]:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = data_dir.parent / f".{data_dir.name}.lock"
    handle = lock_path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise EmbeddedStoreInUse(
            f"the embedded PostgreSQL in {data_dir} is already used by another job service "
            f"(pid {holder}); it serves one job service only. A second replica needs a real "
            "PostgreSQL: set PGSAGE_JOBS_DATABASE_URL (the same for every replica)."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


async def _start_embedded(data_dir: Path) -> tuple[EmbeddedStore, str]:
    lock = _lock_embedded(data_dir)
    try:
        postgres = EmbeddedPostgres(data_dir)
        await asyncio.to_thread(postgres.start)
        log.info("embedded PostgreSQL in %s on 127.0.0.1:%d", data_dir, postgres.port)
        admin = database.Database(postgres.dsn("postgres"), pool_size=1)
        try:
            async with admin.connection() as conn:
                exists = await conn.fetchval(
                    "SELECT 1 FROM pg_database WHERE datname = $1", EMBEDDED_DATABASE
                )
                if not exists:
                    await conn.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
        finally:
            await admin.close()
    except BaseException:
        lock.close()
        raise
    return EmbeddedStore(postgres, lock), postgres.dsn(EMBEDDED_DATABASE)


@dataclass
class RunningService:
    """A started job service: its port, its parts, and `stop()`."""

    port: int
    server: server.Server
    db: database.Database
    listener: notifications.Listener
    settings: Settings
    embedded: EmbeddedStore | None = None
    dispatcher: dispatcher.Dispatcher | None = None
    scheduler: scheduler.Scheduler | None = None
    database_monitor: monitors.DatabaseMonitor | None = None
    optimizer_monitor: monitors.OptimizerMonitor | None = None
    metrics: scrape.Endpoint | None = None
    health_port: HealthPort | None = None
    sender: sender.Sender | None = None
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    _grace: list[float] = field(default_factory=list)
    _stopped: bool = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, running jobs handed back, watches ended (they resume elsewhere),
        drain for `grace` seconds, then every part closes in the reverse order of start-up.
        A second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._grace.append(self.settings.shutdown_grace.total_seconds() if grace is None else grace)
        await self._stack.aclose()
        log.info("job service stopped")


async def start(settings: Settings) -> RunningService:
    """Starts a job service as `settings` say and returns it serving (or raises, having
    closed whatever it had opened).

    Every part is entered on one `AsyncExitStack` as it starts, so start-up failing half way
    and `RunningService.stop()` undo the same things in the same (reverse) order.
    """
    # Authentication settings are checked first: a wrong one stops start-up in one line.
    authn.check_settings(settings)
    grace: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        embedded = None
        if settings.database_url is None:
            embedded, url = await _start_embedded(settings.data_dir)
            stack.push_async_callback(asyncio.to_thread, embedded.stop)
        else:
            url = settings.database_url.get_secret_value()
        connect_timeout = settings.connect_timeout.total_seconds()
        db = database.Database(url, pool_size=settings.pool_size, connect_timeout=connect_timeout)
        stack.push_async_callback(db.close)
        listener = notifications.Listener(db.listen_dsn, connect_timeout=connect_timeout)
        server_tls = settings.server_tls()
        optimizer_client = optimizer.OptimizerClient(
            settings.optimizer_address,
            timeout=settings.optimizer_timeout.total_seconds(),
            tls=settings.optimizer_tls(),
        )
        stack.push_async_callback(optimizer_client.close)
        authenticator, jwks = authn.build(settings, db, listener)
        if jwks is not None:
            stack.push_async_callback(jwks.close)
        try:
            await schema.upgrade(db.engine)
        except Exception as exc:
            if database.is_unavailable(exc):
                raise errors.DatabaseUnavailable(database.describe(exc)) from exc
            raise
        await listener.start()
        stack.push_async_callback(listener.close)
        job_servicer = servicer.JobServicer(
            db=db,
            listener=listener,
            optimizer_client=optimizer_client,
            job_ttl=settings.job_ttl,
            max_attempts=settings.max_attempts,
            policy=authz.Policy(
                local_mode=authenticator.local_mode,
                two_person_targets=tuple(settings.two_person_targets),
            ),
        )
        egress = destinations.Policy.build(
            settings.webhook_allowed_networks, allow_all=authenticator.local_mode
        )
        sealer = settings.webhook_sealer()
        if sealer.enabled:
            async with db.connection() as conn:
                resealed = await sealer.reseal(conn)
            if resealed:
                log.info("sealed %d webhook signing secret(s) under the first key", resealed)
        elif not authenticator.local_mode:
            log.warning(
                "webhook signing secrets are stored as given: set %s to seal them",
                sealing.SETTING,
            )
        webhook_servicer = webhook_handlers.WebhookServicer(db=db, policy=egress, sealer=sealer)
        schedule_servicer = schedule_handlers.ScheduleServicer(
            db=db,
            optimizer_client=optimizer_client,
            min_interval=settings.schedule_min_interval,
        )
        grpc_server = server.build_server(
            host=settings.grpc_host,
            port=settings.grpc_port,
            port_setting="PGSAGE_JOBS_GRPC_PORT",
            service_names=[SERVICE_NAME, WEBHOOK_SERVICE_NAME, SCHEDULE_SERVICE_NAME],
            registrars=[
                lambda s: job_service_pb2_grpc.add_JobServiceServicer_to_server(job_servicer, s),
                lambda s: webhook_pb2_grpc.add_WebhookServiceServicer_to_server(
                    webhook_servicer, s
                ),
                lambda s: schedule_pb2_grpc.add_ScheduleServiceServicer_to_server(
                    schedule_servicer, s
                ),
            ],
            interceptors=[authn.AuthInterceptor(authenticator)],
            credentials=server_tls.credentials() if server_tls else None,
        )
        # Bound before any background part starts, so a taken port stops nothing half-begun.
        health_port = None
        if settings.health_port is not None:
            health_port = await server.start_health_port(
                grpc_server.health,
                host=settings.grpc_host,
                port=settings.health_port,
                setting="PGSAGE_JOBS_HEALTH_PORT",
            )
            stack.push_async_callback(health_port.stop)
        db_monitor = monitors.DatabaseMonitor(
            db,
            grpc_server.health,
            ["", SERVICE_NAME, WEBHOOK_SERVICE_NAME, SCHEDULE_SERVICE_NAME],
            interval=settings.health_interval.total_seconds(),
        )
        job_servicer.database_monitor = db_monitor
        optimizer_monitor = monitors.OptimizerMonitor(
            optimizer_client,
            grpc_server.health,
            interval=settings.optimizer_check_interval.total_seconds(),
        )
        job_dispatcher = dispatcher.Dispatcher(
            db=db,
            listener=listener,
            optimizer_client=optimizer_client,
            lease=settings.lease,
            max_concurrent=settings.max_concurrent_jobs,
            poll_interval=settings.poll_interval,
            analyze_timeout=settings.analyze_timeout,
            job_ttl=settings.job_ttl,
            retry_backoff=settings.retry_backoff,
            max_retry_backoff=settings.max_retry_backoff,
        )
        listener.on_runnable(job_dispatcher.wake)
        # Start-up reconciliation, before anything reports SERVING: jobs whose owner died
        # are requeued (or failed after their last attempt, or cancelled).
        reconciled = await job_dispatcher.reconcile()
        if reconciled:
            log.info("start-up reconciliation: %d job(s) with lapsed leases", reconciled)
        await grpc_server.start()
        stack.push_async_callback(lambda: grpc_server.grpc_server.stop(grace[-1] if grace else 0))
        await db_monitor.check_once()
        await stack.enter_async_context(db_monitor.watching())
        await optimizer_monitor.check_once()
        await stack.enter_async_context(optimizer_monitor.watching())
        await stack.enter_async_context(
            expiry.sweeping(
                db,
                interval=settings.expiry_interval.total_seconds(),
                batch=settings.expiry_batch,
                snapshot_retention=settings.snapshot_retention,
            )
        )
        await job_dispatcher.start()
        webhook_sender = sender.Sender(
            db,
            owner=job_dispatcher.owner,
            policy=egress,
            timeout=settings.webhook_timeout,
            max_attempts=settings.webhook_max_attempts,
            backoff=settings.webhook_retry_backoff,
            max_backoff=settings.webhook_max_retry_backoff,
            retention=settings.webhook_retention,
            public_url=settings.public_url,
            sealer=sealer,
        )
        await stack.enter_async_context(
            webhook_sender.running(settings.webhook_poll_interval.total_seconds())
        )
        # Every replica fires due schedule ticks; the job store makes each tick one job.
        ticks = scheduler.Scheduler(
            db, max_attempts=settings.max_attempts, batch=settings.schedule_batch
        )
        await stack.enter_async_context(
            ticks.running(settings.schedule_poll_interval.total_seconds())
        )
        endpoint = None
        if settings.metrics_port is not None:
            counts = metrics.JobCounts(db)
            endpoint = await scrape.start_endpoint(
                settings.grpc_host,
                settings.metrics_port,
                setting="PGSAGE_JOBS_METRICS_PORT",
                collectors=[counts],
                before_scrape=counts.refresh,
            )
            stack.push_async_callback(endpoint.close)

        async def begin_stopping() -> None:
            await grpc_server.health.enter_graceful_shutdown()
            # Running jobs go back to PENDING at once, so another replica (or this one,
            # restarted) resumes them without waiting for a lease to lapse.
            await job_dispatcher.stop()
            await listener.close()  # watches end now; the drain below lets them go

        stack.push_async_callback(begin_stopping)
        running = RunningService(
            port=grpc_server.port,
            server=grpc_server,
            db=db,
            listener=listener,
            settings=settings,
            embedded=embedded,
            dispatcher=job_dispatcher,
            scheduler=ticks,
            database_monitor=db_monitor,
            optimizer_monitor=optimizer_monitor,
            metrics=endpoint,
            health_port=health_port,
            sender=webhook_sender,
            _stack=stack.pop_all(),
            _grace=grace,
        )
    log.info("job service listening on %s:%d", settings.grpc_host, grpc_server.port)
    if server_tls is None and not pgsage_tls.is_loopback(settings.grpc_host):
        log.warning(
            "serving beyond loopback without TLS: bearer tokens cross the network in plaintext "
            "(set PGSAGE_JOBS_TLS_CERT_FILE and PGSAGE_JOBS_TLS_KEY_FILE)"
        )
    return running


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[RunningService]:
    """The running service for the block's duration (`pgsage.server.main`'s shape)."""
    try:
        running = await start(settings)
    except oidc.ConfigError as exc:
        raise server.StartupError(f"invalid authentication settings: {exc}") from exc
    try:
        yield running
    finally:
        await running.stop()
