"""pgsage's tests. A package only so that `tests.support` is importable (tests and bench)."""
