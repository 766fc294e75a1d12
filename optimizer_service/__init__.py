"""pgsage's optimizer: analyses target PostgreSQL databases and streams index advice.

Run it with `python -m optimizer_service` (settings from `PGSAGE_OPTIMIZER_*`, see
`optimizer_service.settings` for every variable and the target format), or in-process:

    from optimizer_service import app
    from optimizer_service.settings import Settings

    running = await app.start(Settings(grpc_port=0, targets=[
        {"name": "shop", "dsn": "postgresql://advisor@db/shop", "what_if_engine": "hypopg"},
    ]))
    ...  # gRPC on running.address (running.port); health SERVING once started
    await running.stop()

Targets (`PGSAGE_OPTIMIZER_TARGETS` as JSON and/or `PGSAGE_OPTIMIZER_TARGETS_FILE` as TOML):
`name`, `dsn` (secret, never returned or logged), `apply_allowed`, `what_if_engine`
(`hypopg`, or opt-in `transactional` for sandboxes and the demo), `statement_timeout_ms`,
`lock_timeout_ms`, `sandbox`.

Data flow of one Analyze (modules by role):

    servicer ── analysis ──┬─ workload (pg_stat_statements | request | replay)
                           ├─ parameters, explain, plans   (plan each statement, read its columns)
                           ├─ candidates → selection ⇄ costs ⇄ whatif (HypoPG | transactional)
                           ├─ advice                        (SQL, rollback, impacts, fingerprint)
                           └─ drops                         (unused and duplicate indexes)
    mappers: domain ⇄ protobuf; targets: sessions and capabilities; validation,
    diagnostics: the other RPCs; errors: the error tree.

The optimizer never changes a target while analysing: HypoPG objects live in its own
sessions (application_name `pgsage-optimizer`), the transactional engine always rolls back.
A session whose analysis finished normally is reset (no hypothetical index, no prepared
statement left) and kept for the next analysis of that target (`pgsage-optimizer (idle)`,
at most `session_pool_size` per target, closed after `session_idle_seconds`); a cancelled
or failed analysis's sessions are terminated at once.
"""
