"""Failpoints kill the process exactly where named, and only when enabled."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio
    from pgsage import failpoints

    async def main():
        for i in range(5):
            print("step", i, flush=True)
            await failpoints.hit("between_steps")
        print("finished", flush=True)

    asyncio.run(main())
    """
)


def run(env_value: str | None, tmp_path):
    log = tmp_path / "failpoints.log"
    env = {"PATH": "/usr/bin:/bin", "PGSAGE_FAILPOINTS_LOG": str(log)}
    if env_value is not None:
        env["PGSAGE_FAILPOINTS"] = env_value
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    return result, log


def test_kill_lands_at_the_nth_hit(tmp_path):
    result, log = run("between_steps=kill:3", tmp_path)
    assert result.returncode == -signal.SIGKILL
    assert result.stdout.split("\n")[:3] == ["step 0", "step 1", "step 2"]
    assert "step 3" not in result.stdout
    name, pid = log.read_text().split()
    assert name == "between_steps" and int(pid) > 0


def test_disabled_failpoints_do_nothing(tmp_path):
    result, log = run(None, tmp_path)
    assert result.returncode == 0
    assert "finished" in result.stdout
    assert not log.exists()


def test_unknown_action_is_refused(tmp_path):
    result, _ = run("between_steps=explode", tmp_path)
    assert result.returncode != 0
    assert "unknown action 'explode'" in result.stderr
