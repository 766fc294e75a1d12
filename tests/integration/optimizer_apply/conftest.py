"""Fixtures of the optimizer's Apply, Rollback and Benchmark tests (in `apply_support`)."""

from apply_support import started_optimizer

__all__ = ["started_optimizer"]
