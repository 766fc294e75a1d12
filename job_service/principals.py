"""Who is calling: the verified principal every RPC of the job service runs for.

Authentication (`job_service.authn`) turns a request's credentials into a `Principal`;
authorization asks it what it may do on a target. The audit trail records its subject,
display name and how it signed in.
"""

from __future__ import annotations

import enum
import fnmatch
from dataclasses import dataclass


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

    def covers(self, target: str) -> bool:
        pattern = self.targets or "*"
        return fnmatch.fnmatchcase(target, pattern.replace("[", "[[]"))


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
