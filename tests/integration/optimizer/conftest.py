"""Fixtures of the optimizer's integration tests (defined in `tests.support.optimizer`)."""

from tests.support.optimizer import channel_for, optimizer_for

__all__ = ["channel_for", "optimizer_for"]
