"""Fixtures of the optimizer's integration tests (defined in `optimizer_support`)."""

from optimizer_support import channel_for, optimizer_for

__all__ = ["channel_for", "optimizer_for"]
