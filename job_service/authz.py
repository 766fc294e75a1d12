"""Authorization: what the calling principal may do, asked by every handler.

`principal_of(context)` is the principal the authentication interceptor verified for this
call; `require(principal, role, target)` raises PERMISSION_DENIED naming the permission when
the principal lacks `role` on `target` (None: on every target).

Until authentication lands, every caller is the local OS user with every role (local mode).
"""

from __future__ import annotations

import getpass
from typing import Any

from job_service.principals import AuthMethod, Principal, Role, RoleBinding


def local_principal() -> Principal:
    """The local OS user with every role: the caller in local mode."""
    user = getpass.getuser()
    return Principal(
        subject=f"local:{user}",
        display_name=user,
        method=AuthMethod.LOCAL,
        bindings=(RoleBinding(Role.ADMIN, "*"),),
    )


def principal_of(context: Any) -> Principal:
    """The verified principal of the call `context` belongs to."""
    del context
    return local_principal()


def require(principal: Principal, role: Role, target: str | None) -> None:
    """Raises PERMISSION_DENIED unless `principal` holds `role` on `target` (None: all)."""
    del principal, role, target
