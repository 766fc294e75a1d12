"""The audit trail tells the truth: the verified actor's subject and sign-in method, and a
hash chain (`chain_position`, `prev_digest`, `digest`) written by a trigger.

Every record's digest is SHA-256 over a canonical encoding of its content and its
predecessor's digest (`job_service.auditchain` recomputes the same encoding to verify it).
A BEFORE INSERT trigger appends each new record to the chain under a transaction-level
advisory lock, so concurrent writers (handlers, the dispatcher's change jobs) are
serialised and the chain never forks; the unique position is the database's guarantee of
that. Records written before this revision are chained here in time order.

The trigger reads the last record with a fresh snapshot, as READ COMMITTED gives every
statement; a writer in REPEATABLE READ or SERIALIZABLE whose snapshot predates the last
append would compute a duplicate position, and the unique constraint refuses its insert
rather than let the chain fork (the job service writes audit records in READ COMMITTED).
The cost: writers wait for each other from their audit insert to their commit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# One length-prefixed field: 8-byte big-endian byte length, then the UTF-8 bytes. Fields
# are concatenated in a fixed order after a version tag, so no two contents encode alike.
_FIELD = """
CREATE FUNCTION audit_chain_field(value text) RETURNS bytea
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
SELECT int8send(octet_length(convert_to(value, 'UTF8'))::bigint) || convert_to(value, 'UTF8')
$$
"""

# The canonical encoding (kept in step with `job_service.auditchain.canonical`). The time
# is rendered in UTC with microseconds, independent of the session's TimeZone/DateStyle.
_DIGEST = """
CREATE FUNCTION audit_record_digest(r audit_record) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT encode(sha256(
    audit_chain_field('pgsage-audit-v1')
    || audit_chain_field(r.id::text)
    || audit_chain_field(to_char(r.time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'))
    || audit_chain_field(r.actor)
    || audit_chain_field(r.actor_subject)
    || audit_chain_field(r.actor_method)
    || audit_chain_field(CASE WHEN r.authenticated THEN 't' ELSE 'f' END)
    || audit_chain_field(r.action)
    || audit_chain_field(r.resource)
    || audit_chain_field(coalesce(r.job_id::text, ''))
    || audit_chain_field(r.target)
    || audit_chain_field(r.statement)
    || audit_chain_field(r.outcome)
    || audit_chain_field(r.detail)
    || audit_chain_field(r.from_state)
    || audit_chain_field(r.to_state)
    || audit_chain_field(r.on_behalf_of)
    || audit_chain_field(r.prev_digest)
), 'hex')
$$
"""

# Whatever the writer supplied, the position and digests are the chain's. The lock is held
# to the end of the writer's transaction, so the next writer reads this record as the last.
_APPEND = """
CREATE FUNCTION audit_record_append() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    last_position bigint;
    last_digest text;
BEGIN
    -- The key is the bytes "pgsageac" as a bigint (0x7067736167656163).
    PERFORM pg_advisory_xact_lock(8099569317032845667);
    SELECT chain_position, digest INTO last_position, last_digest
    FROM audit_record ORDER BY chain_position DESC LIMIT 1;
    NEW.chain_position := coalesce(last_position, 0) + 1;
    NEW.prev_digest := coalesce(last_digest, '');
    NEW.digest := audit_record_digest(NEW);
    RETURN NEW;
END
$$
"""

_BACKFILL = """
DO $$
DECLARE
    r audit_record;
    n bigint := 0;
    prev text := '';
BEGIN
    FOR r IN SELECT * FROM audit_record ORDER BY time, id LOOP
        n := n + 1;
        r.chain_position := n;
        r.prev_digest := prev;
        r.digest := audit_record_digest(r);
        UPDATE audit_record SET chain_position = n, prev_digest = prev, digest = r.digest
        WHERE id = r.id;
        prev := r.digest;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    for name in ("actor_subject", "actor_method"):
        op.add_column("audit_record", sa.Column(name, sa.Text(), nullable=False, server_default=""))
    op.add_column("audit_record", sa.Column("chain_position", sa.BigInteger(), nullable=True))
    op.add_column("audit_record", sa.Column("prev_digest", sa.Text(), nullable=True))
    op.add_column("audit_record", sa.Column("digest", sa.Text(), nullable=True))
    op.execute(_FIELD)
    op.execute(_DIGEST)
    op.execute(_BACKFILL)
    for name in ("chain_position", "prev_digest", "digest"):
        op.alter_column("audit_record", name, nullable=False)
    op.create_unique_constraint(
        op.f("uq_audit_record_chain_position"), "audit_record", ["chain_position"]
    )
    op.execute(_APPEND)
    op.execute(
        "CREATE TRIGGER audit_record_append BEFORE INSERT ON audit_record "
        "FOR EACH ROW EXECUTE FUNCTION audit_record_append()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_record_append ON audit_record")
    op.execute("DROP FUNCTION audit_record_append()")
    op.execute("DROP FUNCTION audit_record_digest(audit_record)")
    op.execute("DROP FUNCTION audit_chain_field(text)")
    op.drop_constraint(op.f("uq_audit_record_chain_position"), "audit_record", type_="unique")
    for name in ("digest", "prev_digest", "chain_position", "actor_method", "actor_subject"):
        op.drop_column("audit_record", name)
