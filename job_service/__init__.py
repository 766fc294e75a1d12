"""The job service: durable pgsage jobs and suggestions in PostgreSQL, served over gRPC.

Data flows one way, edge to store:

    __main__ / app        settings → start(): store, migrations, listener, monitors, server
    servicer              pgsage.jobs.v1.JobService: validate, one transaction, map
    mappers               proto ⇄ domain
    filters, pagination,  request parsing: the filter language, keyset page tokens,
    names                 resource names (SQL a person writes: pgsage.sqlcheck)
    jobs, suggestions     repositories: one guarded SQL statement per change
    database              pool, transactions, driver errors → domain errors (errors.py)
    notifications         one LISTEN connection per process, fanned out to WatchJob
    monitors, expiry      health from PostgreSQL and the optimizer; the TTL sweep
    models, migrations    the schema (Alembic only), checked against each other in tests
"""
