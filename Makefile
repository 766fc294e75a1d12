# The two fresh-machine commands of the README: `make run` and `make test`.
.PHONY: run test setup-run setup-test check protos wheel

# What running needs: the Python environment (no dev extras) and the UI build. No system
# PostgreSQL is touched; root is needed only if a Debian package is missing (it says which).
setup-run:
	bash scripts/setup-run.sh

# What the tests need besides: HypoPG, Chromium, pg_stat_statements preloaded on the local
# PostgreSQL, the dev extras, the test OpenID provider.
setup-test:
	bash scripts/setup-test.sh

# Sets up, then runs the whole of pgsage: embedded PostgreSQL (job store and demo target),
# the demo database, job service, optimizer and gateway; prints the UI address. Flags for
# `pgsage up` go in ARGS, e.g. `make run ARGS='--http-port 8081'`.
run: setup-run
	.venv/bin/pgsage up $(ARGS)

# Sets up, then runs every check and the whole test suite, in TEST_WORKERS processes
# (pytest-xdist; each test file stays in one process, and each process starts a PostgreSQL
# of its own; `make test TEST_WORKERS=0` runs it in this one).
TEST_WORKERS ?= 2
test: setup-test
	bash scripts/check.sh
	.venv/bin/python -m pytest -p no:cacheprovider -q -n $(TEST_WORKERS) --dist loadfile

# Builds the wheel (UI included) into dist/ and proves it in a clean virtual environment.
wheel: setup-run
	bash scripts/check_wheel.sh dist

protos:
	.venv/bin/python scripts/gen_protos.py
