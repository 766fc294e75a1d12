"""Progress of a running analysis: the current stage, shared with a one-second ticker."""

from __future__ import annotations

from collections.abc import Callable

from optimizer_service.model import Progress


class Tracker:
    """The latest stage, percent and message; the stream's ticker reads it every second.

    `tell(message)` is for news the caller should not wait a tick for (the run waits for a
    session): it notes the message and calls `on_tell`, which sends a snapshot at once."""

    def __init__(self, on_tell: Callable[[], object] | None = None) -> None:
        self.stage = "workload"
        self.percent = 0.0
        self.message = "starting"
        self.version = 0
        self._on_tell = on_tell

    def set(self, stage: str, percent: float, message: str) -> None:
        self.stage, self.percent, self.message = stage, max(self.percent, percent), message
        self.version += 1

    def note(self, message: str) -> None:
        self.message = message
        self.version += 1

    def tell(self, message: str) -> None:
        self.note(message)
        if self._on_tell is not None:
            self._on_tell()

    def snapshot(self) -> Progress:
        return Progress(stage=self.stage, percent=round(self.percent, 1), message=self.message)
