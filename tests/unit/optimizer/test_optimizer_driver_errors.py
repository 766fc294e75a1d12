"""The one translation of a target's driver errors (`optimizer_service.errors.to_domain`):
every SQLSTATE class and driver exception type, built as asyncpg builds them from a server
message, lands on the status a caller (and the job service's retry policy) relies on."""

from __future__ import annotations

import asyncpg
import grpc
import pytest

from optimizer_service import errors
from pgsage import errors as pgsage_errors

SECRET_DSN = "postgresql://pgsage:hunter2@db.internal:5432/shop"


def server_error(sqlstate: str, message: str) -> asyncpg.PostgresError:
    """The exception asyncpg raises for an ErrorResponse with this SQLSTATE and text."""
    return asyncpg.PostgresError.new({"S": "ERROR", "C": sqlstate, "M": message})


# (how it arrives, the status, the ErrorInfo reason)
CASES = [
    # the target went away: retryable, no attempt used by the job service
    (server_error("57P01", "terminating connection due to administrator command"), "GONE"),
    (server_error("57P02", "terminating connection because of crash of another server"), "GONE"),
    (server_error("57P03", "the database system is starting up"), "GONE"),
    (server_error("57P04", "database dropped"), "GONE"),
    (server_error("57P05", "terminating connection due to idle-session timeout"), "GONE"),
    (server_error("53300", "sorry, too many clients already"), "GONE"),
    (server_error("08006", "connection failure"), "GONE"),
    (server_error("08P01", "protocol violation"), "GONE"),
    (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"), "GONE"),
    (asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"), "GONE"),
    (ConnectionRefusedError(111, f"Connect call failed {SECRET_DSN}"), "GONE"),
    (ConnectionResetError(104, "Connection reset by peer"), "GONE"),
    (TimeoutError(), "GONE"),
    # timeouts
    (server_error("57014", "canceling statement due to statement timeout"), "STATEMENT_TIMEOUT"),
    (server_error("55P03", "canceling statement due to lock timeout"), "LOCK_TIMEOUT"),
    (server_error("55P03", 'could not obtain lock on relation "orders"'), "LOCK_TIMEOUT"),
    # permission
    (server_error("42501", "permission denied for table secrets"), "PERMISSION"),
    # a broken driver session (client side)
    (asyncpg.InterfaceError("cannot perform operation: another operation is running"), "SESSION"),
    (asyncpg.exceptions.ProtocolError("unexpected message"), "SESSION"),
    # the target refused this one statement
    (server_error("57014", "canceling statement due to user request"), "REFUSED"),
    (server_error("42P01", 'relation "no_such_table" does not exist'), "REFUSED"),
    (server_error("22012", "division by zero"), "REFUSED"),
    (server_error("23505", 'duplicate key value violates unique constraint "c"'), "REFUSED"),
    (server_error("XX000", "internal error"), "REFUSED"),
    (asyncpg.exceptions.DataError("invalid input for query argument $1"), "REFUSED"),
]
STATUS = {
    "GONE": (grpc.StatusCode.UNAVAILABLE, "TARGET_UNAVAILABLE"),
    "STATEMENT_TIMEOUT": (grpc.StatusCode.DEADLINE_EXCEEDED, "STATEMENT_TIMEOUT"),
    "LOCK_TIMEOUT": (grpc.StatusCode.ABORTED, "LOCK_TIMEOUT"),
    "PERMISSION": (grpc.StatusCode.PERMISSION_DENIED, "TARGET_PERMISSION_DENIED"),
    "SESSION": (grpc.StatusCode.UNAVAILABLE, "TARGET_SESSION_FAILED"),
    "REFUSED": (grpc.StatusCode.FAILED_PRECONDITION, "STATEMENT_FAILED"),
}


@pytest.mark.parametrize(("exc", "kind"), CASES, ids=lambda v: type(v).__name__)
def test_every_driver_error_maps_to_its_status_and_reason(exc, kind):
    assert errors.kind_of(exc) is errors.Kind[kind]
    error = errors.to_domain(exc, what="Analyze", target="shop", phase="workload")
    assert (error.code, error.reason) == STATUS[kind]
    # A module may handle only a refusal of its own statement; the rest reaches the edge.
    assert errors.refused(exc) is (kind in ("REFUSED", "PERMISSION"))
    # Where one slow item is skipped (a what-if build, a measured query), timeouts are too.
    local = ("REFUSED", "PERMISSION", "STATEMENT_TIMEOUT", "LOCK_TIMEOUT")
    assert errors.refused(exc, timeouts=True) is (kind in local)
    shown = str(error) + str(error.metadata)
    assert "shop" in shown and "hunter2" not in shown and "postgresql://" not in shown


def test_every_sqlstate_class_of_the_table_is_covered():
    classes = {state[:2] for state in errors.BY_SQLSTATE} | set(errors.BY_CLASS)
    covered = {str(e.sqlstate)[:2] for e, _ in CASES if isinstance(e, asyncpg.PostgresError)}
    assert classes <= covered


def test_a_statement_timeout_names_the_phase_it_cut_short():
    exc = server_error("57014", "canceling statement due to statement timeout")
    error = errors.to_domain(exc, what="Analyze", target="shop", phase="workload")
    assert "workload phase of Analyze" in str(error) and "statement_timeout" in str(error)
    assert error.metadata["phase"] == "workload"


def test_a_lost_target_is_named_never_its_dsn_and_says_when():
    exc = ConnectionRefusedError(111, f"Connect call failed {SECRET_DSN}")
    error = errors.to_domain(exc, what="Analyze", target="shop", phase="what-if")
    assert isinstance(error, pgsage_errors.Unavailable)
    assert "target 'shop' is unreachable during the what-if phase of Analyze" in str(error)
    assert SECRET_DSN not in str(error) and SECRET_DSN not in str(error.metadata)


@pytest.mark.parametrize(
    ("message", "privilege"),
    [
        ("permission denied for table secrets", "SELECT on table secrets"),
        ("permission denied for schema hidden", "USAGE on schema hidden"),
        ("permission denied for function bump", "EXECUTE on function bump"),
        ("must be owner of table orders", "ownership of table orders"),
        ('permission denied to set parameter "x"', "a privilege PostgreSQL did not name"),
    ],
)
def test_a_missing_privilege_is_named_in_pgsage_words(message, privilege):
    error = errors.to_domain(server_error("42501", message), what="Benchmark", target="shop")
    assert error.code == grpc.StatusCode.PERMISSION_DENIED
    assert privilege in str(error) and error.metadata["privilege"].startswith(privilege)


def test_a_value_in_a_refusal_never_reaches_the_caller():
    card = "4111111111000042"
    exc = server_error("22P02", f'invalid input syntax for type integer: "{card}"')
    error = errors.to_domain(exc, what="measure", target="shop")
    assert card not in str(error) and card not in str(error.metadata)
    assert "SQLSTATE 22P02" in str(error)


def test_an_error_that_is_not_the_drivers_is_not_translated():
    assert errors.kind_of(ValueError("bug")) is None
    with pytest.raises(ValueError), errors.translated("Analyze", "shop"):
        raise ValueError("bug")
