"""Plain-text tables and a progress bar for a terminal (or a pipe)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from typing import TextIO

from pgsage.jobs.v1 import job_pb2, suggestion_pb2

Job = job_pb2.Job
Suggestion = suggestion_pb2.Suggestion


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO) -> None:
    """Columns aligned to their widest cell; numbers right-aligned."""
    cells = [[printable(str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        all(_is_number(row[i]) for row in cells) and bool(cells) for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out.write(line(list(headers)) + "\n")
    for row in cells:
        out.write(line(row) + "\n")


def printable(text: str) -> str:
    """`text` without control characters: what a server stores (an actor's name, a reason)
    must not move the cursor or recolour a terminal."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def printable_lines(text: str) -> list[str]:
    """`text`'s lines, each `printable` (a multi-line value keeps its lines)."""
    return [printable(line) for line in text.splitlines()] or [""]


def _is_number(text: str) -> bool:
    return text.replace(".", "", 1).replace("%", "").replace(" ", "").lstrip("-").isdigit()


def state(job_or_suggestion: Job | Suggestion) -> str:
    enum = type(job_or_suggestion).State
    return enum.Name(job_or_suggestion.state).lower()


def size(value: int) -> str:
    n = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def job_id(name: str) -> str:
    return name.removeprefix("jobs/")


def when(ts) -> str:
    if not ts.seconds:
        return "-"
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")


def suggestions(items: Sequence[Suggestion], out: TextIO) -> None:
    """New indexes first, biggest gain first; then drops, biggest first."""
    if not items:
        out.write("no suggestions\n")
        return
    items = sorted(
        items,
        key=lambda s: (
            s.kind != Suggestion.CREATE_INDEX,
            -s.workload_improvement_percent,
            -s.estimated_size_bytes,
            s.name,
        ),
    )
    table(
        ["SUGGESTION", "STATE", "GAIN", "SIZE", "TITLE"],
        [
            [
                s.name.rsplit("/", 1)[-1],
                state(s),
                f"{s.workload_improvement_percent:.1f}%",
                size(s.estimated_size_bytes) if s.estimated_size_bytes else "-",
                s.title,
            ]
            for s in items
        ],
        out,
    )


class ProgressBar:
    """One line redrawn in place on a terminal; one line per change when piped."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out
        self.tty = out.isatty()
        self.last = ""

    def update(self, job: Job) -> None:
        # A finished job is done whatever its last progress said (change jobs report none).
        percent = (
            100.0 if job.state == Job.SUCCEEDED else max(0.0, min(100.0, job.progress.percent))
        )
        label = Job.State.Name(job.state).lower()
        detail = " · ".join(p for p in (job.progress.stage, job.progress.message) if p)
        if self.tty:
            columns = shutil.get_terminal_size((80, 20)).columns
            width = 30
            filled = int(width * percent / 100)
            bar = "█" * filled + "░" * (width - filled)
            text = f"\r{bar} {percent:5.1f}% {label:<10} {detail}"
            self.out.write(text[: columns + 1].ljust(min(columns, 120)))
            self.out.flush()
            return
        text = f"{percent:5.1f}% {label} {detail}".rstrip()
        if text != self.last:
            self.out.write(text + "\n")
            self.last = text

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()
