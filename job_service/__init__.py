"""The job service: durable pgsage jobs and suggestions in PostgreSQL, served over gRPC.

Data flows one way, edge to store:

    __main__ / app        settings → start(): store, migrations, listener, monitors, server
    authn, oidc           who is calling: bearer JWT (issuer's JWKS) or API token, before
                          any handler runs; local mode without an issuer
    authz, principals     what the caller may do: roles per target pattern, hidden targets
                          answer as unknown, lists filtered in SQL, the two-person rule
    servicer, access      pgsage.jobs.v1.JobService: authorize, validate, one transaction, map
    mappers               proto ⇄ domain
    filters, pagination,  request parsing: the filter language, keyset page tokens,
    names                 resource names (SQL a person writes: pgsage.sqlcheck)
    jobs, suggestions,    repositories: one guarded SQL statement per change
    tokens, audit
    database              pool, transactions, driver errors → domain errors (errors.py)
    notifications         one LISTEN connection per process, fanned out to WatchJob and
                          to the API token cache (revocations)
    monitors, expiry      health from PostgreSQL and the optimizer; the TTL sweep
    models, migrations    the schema (Alembic only), checked against each other in tests
"""
