# The two fresh-machine commands of the README: `make run` and `make test`.
.PHONY: run test setup check protos unit

setup:
	bash scripts/setup-machine.sh

# Sets up, then runs pgsage (embedded PostgreSQL unless PGSAGE_JOBS_DATABASE_URL is set).
run: setup
	.venv/bin/python -m job_service

# Sets up, then runs every check and the whole test suite.
test: setup
	bash scripts/check.sh
	.venv/bin/python -m pytest -p no:cacheprovider -q

protos:
	.venv/bin/python scripts/gen_protos.py
