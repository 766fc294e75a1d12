"""The wheel is what ships: built from this checkout with the UI inside, installed into a clean
virtual environment (no checkout on the path), `pgsage --version` and `pgsage up` work from
it, the gateway answers /healthz with the version and serves the UI (scripts/check_wheel.sh)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_installs_into_a_clean_venv_and_serves_the_ui(tmp_path: Path):
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "check_wheel.sh"), str(tmp_path)],
        env={**env, "PYTHON": sys.executable, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert (tmp_path / f"pgsage-{version}-py3-none-any.whl").is_file()
    lines = result.stdout.splitlines()
    assert f"pgsage {version}" in lines, output
    assert any(line.startswith("GET / serves the UI (/assets/") for line in lines), output
    assert lines[-2:] == ["pgsage stopped", "check_wheel: ok"], output
