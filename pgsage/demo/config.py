"""The optimizer's target configuration for the demo database.

The embedded PostgreSQL has no HypoPG, so the demo target opts in to the transactional what-if
engine (real indexes in a transaction that is always rolled back), which DESIGN.md reserves
for sandboxes and the demo; apply is allowed, since the demo exists to be changed.
"""

from __future__ import annotations

import json
from pathlib import Path

TARGET_NAME = "demo"


def target(dsn: str) -> dict[str, object]:
    """The demo target, as the optimizer's settings take it."""
    return {
        "name": TARGET_NAME,
        "dsn": dsn,
        "apply_allowed": True,
        "what_if_engine": "transactional",
        # The demo is a sandbox: benchmarks may copy a sample of its tables into a scratch
        # schema (removed afterwards).
        "benchmark_sampling": True,
    }


def toml(dsn: str) -> str:
    """The target as a `[[targets]]` table of the optimizer's TARGETS_FILE."""
    lines = ["[[targets]]"]
    for key, value in target(dsn).items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def write(path: Path, dsn: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(toml(dsn))
