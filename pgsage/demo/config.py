"""The optimizer's target configuration for the demo database.

The embedded PostgreSQL has no HypoPG, so the demo target opts in to the transactional what-if
engine (real indexes in a transaction that is always rolled back), which DESIGN.md reserves
for sandboxes and the demo; apply is allowed, since the demo exists to be changed.
"""

from __future__ import annotations

import json
from pathlib import Path

TARGET_NAME = "demo"


def target(dsn: str, verification_window: float | None = None) -> dict[str, object]:
    """The demo target, as the optimizer's settings take it; `verification_window` (seconds)
    shortens how long an APPLY waits for its VERIFY job (`pgsage up` makes it minutes, so a
    verified index shows on the target page soon after an apply)."""
    found: dict[str, object] = {
        "name": TARGET_NAME,
        "dsn": dsn,
        "apply_allowed": True,
        "what_if_engine": "transactional",
        # The demo is a sandbox: benchmarks may copy a sample of its tables into a scratch
        # schema (removed afterwards).
        "benchmark_sampling": True,
    }
    if verification_window is not None:
        found["verification_window_seconds"] = verification_window
    return found


def toml(dsn: str, verification_window: float | None = None) -> str:
    """The target as a `[[targets]]` table of the optimizer's TARGETS_FILE."""
    lines = ["[[targets]]"]
    for key, value in target(dsn, verification_window).items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def write(path: Path, dsn: str, verification_window: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(toml(dsn, verification_window))


def dsn_in(path: Path) -> str:
    """The demo target's DSN in a targets file `write` wrote ('' when there is none)."""
    import tomllib

    with path.open("rb") as f:
        found = tomllib.load(f)
    for t in found.get("targets", []):
        if t.get("name") == TARGET_NAME:
            return str(t.get("dsn", ""))
    return ""
