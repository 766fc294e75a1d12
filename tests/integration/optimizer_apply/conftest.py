"""Fixtures of the optimizer's Apply, Rollback and Benchmark tests (in `tests.support.apply`)."""

from tests.support.apply import started_optimizer

__all__ = ["started_optimizer"]
