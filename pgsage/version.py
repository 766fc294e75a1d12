"""pgsage's version, from the installed package's metadata (a checkout installed with
`pip install -e .` or a wheel alike)."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    try:
        return metadata.version("pgsage")
    except metadata.PackageNotFoundError:  # sources on sys.path without being installed
        return "unknown"
