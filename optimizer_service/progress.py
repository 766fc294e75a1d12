"""Progress of a running analysis: the current stage, shared with a one-second ticker."""

from __future__ import annotations

from optimizer_service.model import Progress


class Tracker:
    """The latest stage, percent and message; the stream's ticker reads it every second."""

    def __init__(self) -> None:
        self.stage = "workload"
        self.percent = 0.0
        self.message = "starting"
        self.version = 0

    def set(self, stage: str, percent: float, message: str) -> None:
        self.stage, self.percent, self.message = stage, max(self.percent, percent), message
        self.version += 1

    def note(self, message: str) -> None:
        self.message = message
        self.version += 1

    def snapshot(self) -> Progress:
        return Progress(stage=self.stage, percent=round(self.percent, 1), message=self.message)
