"""Regenerates the Python code of pgsage's protos into the `pgsage` package.

Proto packages equal Python packages (`pgsage.jobs.v1`), so generated imports need no
rewriting. The output is committed; CI runs this script and fails on any difference
(`scripts/check_generated.sh`). Never edit the generated files by hand.
"""

from __future__ import annotations

import pathlib
import sys

import grpc_tools
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
THIRD_PARTY = PROTOS / "third_party"
WELL_KNOWN = pathlib.Path(grpc_tools.__file__).parent / "_proto"


def main() -> int:
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "pgsage").rglob("*.proto"))
    for generated in (ROOT / "pgsage").rglob("*_pb2*.py*"):
        generated.unlink()
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{THIRD_PARTY}",
        f"-I{WELL_KNOWN}",
        f"--python_out={ROOT}",
        f"--pyi_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        *sources,
    ]
    code = protoc.main(args)
    if code != 0:
        print("protoc failed", file=sys.stderr)
        return code
    for package in {pathlib.Path(s).parent for s in sources}:
        for part in range(1, len(package.parts) + 1):
            init = ROOT / pathlib.Path(*package.parts[:part]) / "__init__.py"
            if not init.exists():
                init.write_text("")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
