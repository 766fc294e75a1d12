"""Credentials in the CLI: `tokens create/list/revoke`, `login` (stored 0600), `whoami`,
`logout`, `PGSAGE_TOKEN`, and one-line refusals; a token never shows in output or logs.

The module's job service runs in local mode (the OS user is admin and makes the tokens);
one more on the same store has an issuer configured, so calls without a token are refused.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from pgsage.cli.commands import login_name
from tests.support import stack as pgsage_stack
from tests.support.cli import Result


def _quiet(result: Result, secret: str) -> None:
    assert secret not in result.out and secret not in result.err


async def _create(pgsage, name: str, *roles: str) -> tuple[str, str]:
    """A new token's resource name and secret, made through the CLI."""
    args = ["tokens", "create", "--name", name, "--expires", "7d"]
    for role in roles:
        args += ["--role", role]
    made = await pgsage(*args)
    assert made.code == 0, made.err
    secret = made.out.strip()
    assert secret.startswith("pgs_") and len(made.out.splitlines()) == 1
    assert "shown only now" in made.err and secret not in made.err
    token_name = made.err.split()[1]
    assert token_name.startswith("apiTokens/")
    return token_name, secret


@pytest.fixture
def config_home(tmp_path: Path) -> Path:
    home = tmp_path / "config"
    home.mkdir()
    return home


async def test_a_token_is_shown_once_listed_without_its_secret_and_revoked(pgsage, caplog):
    caplog.set_level(logging.DEBUG)
    name, secret = await _create(pgsage, "nightly-report", "operator:staging-*", "viewer")
    env = {"PGSAGE_TOKEN": secret}

    me = await pgsage("whoami", env=env)
    assert me.code == 0, me.err
    assert f"subject:    {name}\n" in me.out
    assert "name:       nightly-report\n" in me.out
    assert "method:     api token\n" in me.out
    assert "roles:      operator on staging-*, viewer on *\n" in me.out
    _quiet(me, secret)

    listed = await pgsage("tokens", "list")
    row = next(line for line in listed.out.splitlines() if line.startswith(name))
    assert "nightly-report" in row and "active" in row
    _quiet(listed, secret)
    as_json = json.loads((await pgsage("tokens", "list", "--json")).out)
    assert name in {t["name"] for t in as_json} and secret not in json.dumps(as_json)

    revoked = await pgsage("tokens", "revoke", name)
    assert revoked.code == 0 and revoked.out.strip() == f"{name}: revoked"
    refused = await pgsage("whoami", env=env)
    assert refused.code == 1 and refused.out == ""
    [line] = refused.err.strip().splitlines()
    assert line.startswith("pgsage: not signed in: the token from PGSAGE_TOKEN was refused")
    assert line.endswith("set PGSAGE_TOKEN or run `pgsage login`")
    _quiet(refused, secret)
    active = await pgsage("tokens", "list")
    assert name not in active.out
    every = await pgsage("tokens", "list", "--all")
    assert "revoked" in next(line for line in every.out.splitlines() if line.startswith(name))
    assert secret not in caplog.text


async def test_login_stores_the_token_privately_and_logout_removes_it(
    pgsage, store, config_home, caplog
):
    caplog.set_level(logging.DEBUG)
    name, secret = await _create(pgsage, "release-bot", "reviewer")
    env = {"XDG_CONFIG_HOME": str(config_home)}
    path = config_home / "pgsage" / "token"

    signed_in = await pgsage("login", env=env, stdin=secret + "\n")
    assert signed_in.code == 0, signed_in.err
    assert signed_in.out.strip() == (
        f"signed in as release-bot ({name}, api token); the token is stored in {path}"
    )
    _quiet(signed_in, secret)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text().strip() == secret

    # Later commands use it: what they do is recorded as the token's holder.
    me = await pgsage("whoami", env=env)
    assert f"subject:    {name}\n" in me.out
    job = (await pgsage("analyze", "--target", "demo")).out.strip()
    suggestion = await pgsage_stack.seed_suggestion(store, job, column="placed_at")
    assert (await pgsage("suggestions", "approve", suggestion, env=env)).code == 0
    trail = await pgsage("audit", "list", "--filter", f'resource = "{suggestion}"', "--json")
    [record] = json.loads(trail.out)
    assert (record["actor"], record["actorSubject"]) == ("release-bot", name)
    assert record["actorAuthMethod"] == "API_TOKEN"

    # A token file others could read is refused, not used.
    path.chmod(0o644)
    exposed = await pgsage("whoami", env=env)
    assert exposed.code == 1 and "can be read by other users (mode 0644)" in exposed.err
    _quiet(exposed, secret)
    path.chmod(0o600)

    out = await pgsage("logout", env=env)
    assert out.code == 0 and out.out.strip() == f"signed out: removed {path}"
    assert not path.exists()
    local = await pgsage("whoami", env=env)
    assert f"name:       {login_name()}\n" in local.out and "mode:       local" in local.out
    assert secret not in caplog.text


async def test_login_with_a_bad_token_stores_nothing(pgsage, config_home):
    env = {"XDG_CONFIG_HOME": str(config_home)}
    bogus = "pgs_" + "x" * 40
    refused = await pgsage("login", env=env, stdin=bogus)
    assert refused.code == 1
    [line] = refused.err.strip().splitlines()
    assert line.startswith("pgsage: not signed in:")
    _quiet(refused, bogus)
    assert not (config_home / "pgsage").exists() or not os.listdir(config_home / "pgsage")
    empty = await pgsage("login", env=env, stdin="\n")
    assert empty.code == 2 and "empty" in empty.err


async def test_without_a_token_a_service_with_an_issuer_says_how_to_sign_in(pgsage, store):
    async with pgsage_stack.job_service(
        store, oidc_issuer="https://issuer.invalid", oidc_audience="pgsage"
    ) as guarded:
        anonymous = await pgsage("jobs", "list", address=guarded.address)
        assert anonymous.code == 1 and anonymous.out == ""
        assert anonymous.err == "pgsage: not signed in: set PGSAGE_TOKEN or run `pgsage login`\n"
        verify = await pgsage("audit", "verify", address=guarded.address)
        assert verify.err == anonymous.err
        # A token of pgsage works there too; a viewer may not verify the audit trail.
        _, secret = await _create(pgsage, "dashboard", "viewer")
        env = {"PGSAGE_TOKEN": secret}
        listed = await pgsage("jobs", "list", address=guarded.address, env=env)
        assert listed.code == 0, listed.err
        denied = await pgsage("audit", "verify", address=guarded.address, env=env)
        assert denied.code == 1 and len(denied.err.strip().splitlines()) == 1
        assert denied.err.startswith("pgsage: permission denied: ") and "ADMIN" in denied.err
        _quiet(denied, secret)


async def test_actor_is_ignored_and_says_so(pgsage, store):
    job = (await pgsage("analyze", "--target", "demo")).out.strip()
    suggestion = await pgsage_stack.seed_suggestion(store, job, column="shipped_at")
    approved = await pgsage("--actor", "alice", "suggestions", "approve", suggestion)
    assert approved.code == 0
    assert "--actor / PGSAGE_ACTOR is ignored" in approved.err
    trail = await pgsage("audit", "list", "--filter", f'resource = "{suggestion}"', "--json")
    [record] = json.loads(trail.out)
    assert record["actor"] == login_name() != "alice"
