"""Who is calling: the verified principal every RPC of the job service runs for.

Authentication (`job_service.authn`) turns a request's credentials into a `Principal`;
authorization asks it what it may do on a target. The audit trail records its subject,
display name and how it signed in.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import lru_cache


class Role(enum.IntEnum):
    """Each role includes the ones below it (values match `pgsage.jobs.v1.Role`)."""

    VIEWER = 1
    REVIEWER = 2
    OPERATOR = 3
    ADMIN = 4


class AuthMethod(enum.StrEnum):
    """How a principal proved who it is (names match `pgsage.jobs.v1.AuthMethod`)."""

    OIDC = "OIDC"
    API_TOKEN = "API_TOKEN"
    LOCAL = "LOCAL"


@dataclass(frozen=True)
class RoleBinding:
    """`role` on every target whose name matches `targets` (`*` is any run of characters)."""

    role: Role
    targets: str = "*"

    @property
    def everywhere(self) -> bool:
        return (self.targets or "*").strip("*") == ""

    def covers(self, target: str) -> bool:
        return _pattern(self.targets or "*").fullmatch(target) is not None


@lru_cache(maxsize=256)
def _pattern(targets: str) -> re.Pattern[str]:
    """`*` is any run of characters; every other character stands for itself (the same
    reading as `like_pattern`, so a list filtered in SQL agrees with a single check)."""
    return re.compile(".*".join(re.escape(part) for part in targets.split("*")), re.DOTALL)


def like_pattern(targets: str) -> str:
    """The SQL LIKE pattern (escape character `\\`) matching what `targets` covers."""
    escaped = (targets or "*").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


@dataclass(frozen=True)
class Principal:
    """A verified caller."""

    subject: str
    display_name: str
    method: AuthMethod
    bindings: tuple[RoleBinding, ...] = ()

    def role_on(self, target: str) -> Role | None:
        """The highest role this principal holds on `target`, or None."""
        roles = [b.role for b in self.bindings if b.covers(target)]
        return max(roles) if roles else None

    def may(self, role: Role, target: str) -> bool:
        held = self.role_on(target)
        return held is not None and held >= role

    def may_everywhere(self, role: Role) -> bool:
        """Whether one binding gives at least `role` on every target."""
        return any(b.role >= role and b.everywhere for b in self.bindings)
