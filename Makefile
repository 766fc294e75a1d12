# The two fresh-machine commands of the README: `make run` and `make test`.
.PHONY: run test setup check protos unit

setup:
	bash scripts/setup-machine.sh

# Sets up, then runs the whole of pgsage: embedded PostgreSQL (job store and demo target),
# the demo database, job service, optimizer and gateway; prints the UI address.
run: setup
	.venv/bin/pgsage up

# Sets up, then runs every check and the whole test suite.
test: setup
	bash scripts/check.sh
	.venv/bin/python -m pytest -p no:cacheprovider -q

protos:
	.venv/bin/python scripts/gen_protos.py
