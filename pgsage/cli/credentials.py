"""Where the CLI's bearer token comes from: `PGSAGE_TOKEN`, else the file `pgsage login` wrote.

The file is `$XDG_CONFIG_HOME/pgsage/token` (default `~/.config/pgsage/token`), mode 0600 in
a 0700 folder, written atomically; a token file others can read is refused rather than used,
as ssh does with keys. The token itself is never printed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from pgsage.cli.errors import FAILURE, USAGE, CliError

ENV = "PGSAGE_TOKEN"
MAX_TOKEN = 8192


def token_path(env: Mapping[str, str] | None = None) -> Path:
    """The stored token's path (not necessarily existing)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "pgsage" / "token"


def check(token: str, source: str) -> str:
    """`token` stripped, or a usage error naming `source` (without echoing the token)."""
    token = token.strip()
    if not token:
        raise CliError(f"{source} is empty", USAGE)
    if len(token) > MAX_TOKEN or any(not (" " < ch <= "~") for ch in token):
        raise CliError(
            f"{source} is not a token (printable ASCII without spaces, at most {MAX_TOKEN} "
            "characters)",
            USAGE,
        )
    return token


def current() -> tuple[str, str]:
    """The token to send and where it came from ("" and "" when there is none)."""
    from_env = os.environ.get(ENV)
    if from_env is not None and from_env.strip():
        return check(from_env, ENV), ENV
    path = token_path()
    try:
        info = path.stat()
    except FileNotFoundError:
        return "", ""
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", FAILURE) from None
    mode = info.st_mode
    if info.st_uid != os.getuid():
        raise CliError(
            f"{path} belongs to another user: remove it, then `pgsage login` again", FAILURE
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CliError(
            f"{path} can be read by other users (mode {stat.S_IMODE(mode):04o}): "
            f"run `chmod 600 {path}`, or `pgsage login` again",
            FAILURE,
        )
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the token in {path}: {exc}", FAILURE) from None
    return check(text, str(path)), str(path)


def store(token: str) -> Path:
    """Writes `token` to the token file (0600, in a 0700 folder), replacing any before it."""
    path = token_path()
    folder = path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The folder is pgsage's own: tighten it if it was made looser.
        os.chmod(folder, 0o700)
        partial = folder / f".token.{os.getpid()}"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(token + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CliError(f"cannot store the token in {path}: {exc.strerror}", FAILURE) from None
    return path


def remove() -> Path | None:
    """Deletes the token file; its path, or None when there was none."""
    path = token_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CliError(f"cannot remove {path}: {exc.strerror}", FAILURE) from None
    return path
