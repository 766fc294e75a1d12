"""The outcome of one dependency check (database, optimizer), for health and diagnostics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Check:
    """Whether a dependency answered, what is wrong in plain words, when, and how fast."""

    ok: bool
    message: str
    time: datetime
    latency: float
