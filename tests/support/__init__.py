"""Helpers shared by the tests (and by a few benchmarks), imported as `tests.support.<module>`.

pg        the shared PostgreSQL server: SHARED_PG, DSNs, databases created and dropped
clusters  embedded PostgreSQL clusters a test owns: started, then stopped and removed
stack     a job store, job service, optimizer and gateway in-process (gateway, CLI, e2e)
optimizer a real optimizer gRPC server and its Analyze helpers
apply     the optimizer's Apply/Rollback/Benchmark helpers
attacks   a target seeded for attacks (side-effect counters, secrets)
dispatch  job services and optimizers as subprocesses, change-job helpers (dispatcher)
cli       the real `pgsage` command as a subprocess
issuer    a test OpenID Connect issuer (keys, discovery, JWKS, tokens)
oidc      the test OpenID provider (tests/oidc), a recording job service, sign-in helpers
browser   browser flows (node, playwright-core, Chromium)
"""
