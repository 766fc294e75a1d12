"""The gRPC contract of the last release (protos/releases/v*.binpb, written by
scripts/release_protos.sh): the protos as they are keep it, and `buf breaking` (which
scripts/check.sh runs) names a change that would break its clients."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / ".venv/bin/buf"


def newest_release() -> Path:
    images = sorted(
        (ROOT / "protos/releases").glob("v*.binpb"),
        key=lambda p: tuple(int(n) for n in p.stem[1:].split(".")),
    )
    assert images, "no release contract in protos/releases"
    return images[-1]


def breaking(workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BUF), "breaking", "--against", str(newest_release())],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_v0_1_0_is_recorded_and_the_protos_keep_it():
    assert (ROOT / "protos/releases/v0.1.0.binpb").stat().st_size > 10_000
    done = breaking(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_renamed_field_is_named_as_breaking(tmp_path):
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    shutil.copytree(ROOT / "protos", tmp_path / "protos", ignore=shutil.ignore_patterns("releases"))
    job = tmp_path / "protos/pgsage/jobs/v1/job.proto"
    text = job.read_text()
    assert "  string target = 4 " in text
    job.write_text(text.replace("  string target = 4 ", "  string target_name = 4 ", 1))
    done = breaking(tmp_path)
    assert done.returncode != 0
    assert 'Field "4" on message "Job" changed name from "target" to "target_name"' in done.stdout
