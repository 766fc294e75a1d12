"""Authorization: what the calling principal may do, asked by every handler.

`principal_of(context)` is the principal the authentication interceptor
(`job_service.authn`) verified for this call; `require(principal, role, target)` raises
PERMISSION_DENIED naming the permission when the principal lacks `role` on `target` (None:
on every target). A named resource on a target the caller may not even view is answered
exactly as an unknown one (`visible`), so names cannot be probed; lists are filtered in SQL
by `visible_patterns`.

Local mode (no identity provider): a call without credentials is the local OS user with
every role.
"""

from __future__ import annotations

import contextvars
import getpass
from dataclasses import dataclass
from typing import Any

from job_service import errors
from job_service.principals import AuthMethod, Principal, Role, RoleBinding, like_pattern

_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "pgsage_principal", default=None
)

# What each role is called in a refusal, when the handler names no finer permission.
_ROLE_PERMISSION = {
    Role.VIEWER: "read",
    Role.REVIEWER: "review",
    Role.OPERATOR: "operate",
    Role.ADMIN: "administer",
}


def local_principal() -> Principal:
    """The local OS user with every role: the caller in local mode."""
    user = getpass.getuser()
    return Principal(
        subject=f"local:{user}",
        display_name=user,
        method=AuthMethod.LOCAL,
        bindings=(RoleBinding(Role.ADMIN, "*"),),
    )


@dataclass(frozen=True)
class Policy:
    """The service-wide rules a handler needs besides the caller's roles."""

    local_mode: bool = True
    two_person_targets: tuple[str, ...] = ()

    def two_person(self, target: str) -> bool:
        """Whether an APPLY on `target` must be created by someone other than its approver."""
        return any(RoleBinding(Role.VIEWER, p).covers(target) for p in self.two_person_targets)


def bind(principal: Principal) -> None:
    """Makes `principal` the caller of the current call (the interceptor's part). Each call
    runs in a task of its own, so the binding never leaks into another call."""
    _current.set(principal)


def principal_of(context: Any) -> Principal:
    """The verified principal of the call `context` belongs to."""
    del context  # the interceptor binds it to the call's task (see `bind`)
    principal = _current.get()
    if principal is None:
        # A handler reached without the interceptor is a wiring bug: refuse, never assume.
        raise errors.CredentialsMissing()
    return principal


def require(principal: Principal, role: Role, target: str | None, *, permission: str = "") -> None:
    """Raises PERMISSION_DENIED unless `principal` holds `role` on `target` (None: all)."""
    allowed = principal.may_everywhere(role) if target is None else principal.may(role, target)
    if not allowed:
        raise errors.PermissionDenied(
            principal.display_name, permission or _ROLE_PERMISSION[role], role.name, target
        )


def require_any(principal: Principal) -> None:
    """Raises PERMISSION_DENIED when `principal` holds no role at all (before any lookup)."""
    if not principal.bindings:
        raise errors.PermissionDenied(principal.display_name, "read", Role.VIEWER.name, None)


def visible(principal: Principal, target: str, not_found: Exception) -> None:
    """Raises `not_found` (what an unknown resource gets) when `principal` may not view
    `target`: a forbidden resource and a missing one must answer alike."""
    if principal.role_on(target) is None:
        raise not_found


def visible_patterns(principal: Principal) -> list[str] | None:
    """SQL LIKE patterns of the targets `principal` may view; None when it may view all."""
    if any(b.everywhere for b in principal.bindings):
        return None
    return sorted({like_pattern(b.targets) for b in principal.bindings})


def audit_patterns(principal: Principal) -> list[str] | None:
    """Like `visible_patterns` for audit records: records without a target (not about one
    target) are for admins of every target only, so only they get None."""
    if principal.may_everywhere(Role.ADMIN):
        return None
    return sorted({like_pattern(b.targets) for b in principal.bindings})
