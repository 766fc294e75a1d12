-- Run once, when the data directory is initialised (docker-entrypoint-initdb.d).
-- In template1, so every database created afterwards (the demo's) has both extensions.
\connect template1
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS hypopg;
\connect postgres
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
