"""Named failpoints for crash tests, off unless a test turns them on.

A test starts a process with `PGSAGE_FAILPOINTS="after_claim=kill,between_events=kill:2"`;
the code calls `await failpoints.hit("after_claim")` at that spot. Actions:

- `kill`      SIGKILL this process at the n-th hit (default the 1st): a crash, no cleanup;
- `sleep:S`   pause S seconds (to widen a race window).

Before killing, the process appends `<name> <pid>` to the file named by
`PGSAGE_FAILPOINTS_LOG` (when set), so the test can assert the kill landed where intended.
In production the variable is unset and `hit` is a dictionary lookup that returns at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass

ENV = "PGSAGE_FAILPOINTS"
LOG_ENV = "PGSAGE_FAILPOINTS_LOG"


@dataclass
class _Action:
    kind: str
    arg: float
    hits: int = 0


def _parse(spec: str) -> dict[str, _Action]:
    actions: dict[str, _Action] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, action = item.partition("=")
        kind, _, arg = action.partition(":")
        if kind not in {"kill", "sleep"}:
            raise ValueError(f"{ENV}: unknown action {kind!r} for failpoint {name!r}")
        default = 1.0 if kind == "kill" else 0.0
        actions[name] = _Action(kind=kind, arg=float(arg) if arg else default)
    return actions


_actions = _parse(os.environ.get(ENV, ""))


def enabled() -> bool:
    return bool(_actions)


async def hit(name: str) -> None:
    """Runs the action configured for failpoint `name`, if any."""
    action = _actions.get(name)
    if action is None:
        return
    action.hits += 1
    if action.kind == "sleep":
        await asyncio.sleep(action.arg)
        return
    if action.hits >= int(action.arg):
        log_path = os.environ.get(LOG_ENV)
        if log_path:
            # Blocking on purpose: the process dies on the next line, nothing else runs.
            with open(log_path, "a") as log:  # noqa: ASYNC230
                log.write(f"{name} {os.getpid()}\n")
                log.flush()
                os.fsync(log.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
