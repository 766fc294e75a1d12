"""Role bindings, target patterns and the settings that map groups to roles."""

from __future__ import annotations

import pytest

from job_service import authz, errors, oidc
from job_service.principals import AuthMethod, Principal, Role, RoleBinding, like_pattern


def _who(*bindings: RoleBinding) -> Principal:
    return Principal("sub", "Someone", AuthMethod.OIDC, bindings)


def test_a_pattern_matches_with_star_only():
    binding = RoleBinding(Role.OPERATOR, "db_[1]?-*")
    assert binding.covers("db_[1]?-eu")
    assert not binding.covers("dbX[1]?-eu")
    assert not binding.covers("db_1x-eu")
    assert RoleBinding(Role.VIEWER, "").covers("anything")
    assert not RoleBinding(Role.VIEWER, "prod").covers("prod-2")


def test_like_patterns_escape_what_like_would_read_as_wildcards():
    assert like_pattern("staging-*") == "staging-%"
    assert like_pattern("a_b%c\\*") == "a\\_b\\%c\\\\%"
    assert like_pattern("") == "%"


def test_roles_include_the_ones_below_them_on_the_targets_bound():
    staging_op = _who(RoleBinding(Role.OPERATOR, "staging-*"), RoleBinding(Role.VIEWER, "*"))
    assert staging_op.may(Role.REVIEWER, "staging-1")
    assert not staging_op.may(Role.REVIEWER, "prod")
    assert staging_op.may(Role.VIEWER, "prod")
    assert not staging_op.may_everywhere(Role.OPERATOR)
    with pytest.raises(errors.PermissionDenied) as caught:
        authz.require(staging_op, Role.OPERATOR, "prod", permission="jobs.create.apply")
    assert caught.value.metadata == {
        "permission": "jobs.create.apply",
        "role": "OPERATOR",
        "target": "prod",
    }
    authz.require(staging_op, Role.OPERATOR, "staging-2")


def test_visibility_patterns_for_lists_and_the_audit_trail():
    staging = _who(RoleBinding(Role.OPERATOR, "staging-*"))
    assert authz.visible_patterns(staging) == ["staging-%"]
    viewer = _who(RoleBinding(Role.VIEWER, "*"))
    assert authz.visible_patterns(viewer) is None
    # Records about no target are for admins of every target only.
    assert authz.audit_patterns(viewer) == ["%"]
    assert authz.audit_patterns(_who(RoleBinding(Role.ADMIN, "*"))) is None
    with pytest.raises(errors.PermissionDenied):
        authz.require_any(_who())


def test_role_bindings_settings_are_checked_in_one_line():
    parsed = oidc.parse_bindings(
        [
            {"group": "dba", "role": "admin"},
            {"group": "ops", "role": "OPERATOR", "targets": "staging-*"},
            {"group": "ops", "role": "VIEWER"},
        ]
    )
    assert parsed["dba"] == (RoleBinding(Role.ADMIN, "*"),)
    assert parsed["ops"] == (RoleBinding(Role.OPERATOR, "staging-*"), RoleBinding(Role.VIEWER))
    for bad, words in (
        ({"group": "dba", "role": "SUPERUSER"}, "role 'SUPERUSER' is not one of"),
        ({"role": "VIEWER"}, "'group' is required"),
        ({"group": "g", "role": "VIEWER", "target": "x"}, "unknown key"),
    ):
        with pytest.raises(oidc.ConfigError) as caught:
            oidc.parse_bindings([bad])
        assert words in str(caught.value) and "\n" not in str(caught.value)


def test_groups_and_display_names_from_claims():
    assert oidc.groups_of({"groups": ["a", "b", 3]}, "groups") == ["a", "b"]
    assert oidc.groups_of({"roles": "a, b c"}, "roles") == ["a", "b", "c"]
    assert oidc.groups_of({}, "groups") == []
    assert oidc.display_name_of({"sub": "s", "email": "e@x"}) == "e@x"
    assert oidc.display_name_of({"sub": "s", "preferred_username": "u", "email": "e"}) == "u"
    assert oidc.display_name_of({"sub": "s", "name": "Ann\u0007 Lee"}) == "Ann Lee"
    assert oidc.display_name_of({"sub": "s"}) == "s"


def test_two_person_targets_are_patterns():
    policy = authz.Policy(local_mode=False, two_person_targets=("prod*",))
    assert policy.two_person("prod-eu") and not policy.two_person("staging")
