"""Webhook destinations and their transactional outbox (issue 14, item 4).

- `webhook`: a destination (URL, event filter, target pattern, format, signing secret).
- `webhook_event`: one row per event that at least one enabled destination wanted, with the
  facts its body is rendered from; `webhook_delivery`: one row per (event, destination),
  PENDING until a sender delivers it or gives up; `webhook_attempt`: every POST.
- `webhook_emit(type, target, resource, payload)`: the one way events enter the outbox, in
  the caller's transaction (`job_service.webhooks.emit` calls it). Nothing is written when no
  enabled destination matches.
- The `job_webhook_events` trigger: a job's move to FAILED (any kind) emits JOB_FAILED; an
  ANALYZE job's move to SUCCEEDED with at least one new suggestion (PENDING, no prior
  decision, not superseded) emits ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS. A trigger, so every
  statement that ends a job (a run's finish, the summary's success, a requeue after the last
  attempt, the reaper's takeover) writes its event in its own transaction, and none can
  forget to. It runs after the statement, so it sees the suggestions that statement marked.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_NOW = sa.text("now()")
_EVENT_TYPES = (
    "ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS",
    "JOB_FAILED",
    "VERIFICATION_VERDICT",
    "REGRESSION",
    "ROLLBACK_BY_POLICY",
    "PING",
)

_EMIT = """
CREATE FUNCTION webhook_emit(p_event_type text, p_target text, p_resource text, p_payload jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    queued integer;
BEGIN
    WITH hooks AS (
        SELECT id FROM webhook
        WHERE enabled AND p_event_type = ANY(event_types) AND p_target LIKE target_pattern
    ), ev AS (
        INSERT INTO webhook_event (id, event_type, target, resource, payload)
        SELECT gen_random_uuid(), p_event_type, p_target, p_resource, p_payload
        WHERE EXISTS (SELECT 1 FROM hooks)
        RETURNING id
    ), d AS (
        INSERT INTO webhook_delivery (id, webhook_id, event_id, state)
        SELECT gen_random_uuid(), hooks.id, ev.id, 'PENDING' FROM hooks CROSS JOIN ev
        RETURNING 1
    )
    SELECT count(*) INTO queued FROM d;
    RETURN queued;
END
$$
"""

_JOB_EVENTS = """
CREATE FUNCTION job_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    facts jsonb;
    fresh integer;
    listed jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook WHERE enabled) THEN
        RETURN NULL;
    END IF;
    facts := jsonb_build_object(
        'job', jsonb_build_object(
            'name', 'jobs/' || NEW.id,
            'kind', NEW.kind,
            'state', NEW.state,
            'target', NEW.target,
            'creator', NEW.creator,
            'attempt', NEW.attempt,
            'max_attempts', NEW.max_attempts,
            'create_time', NEW.create_time,
            'end_time', NEW.end_time,
            'suggestion', CASE WHEN NEW.suggestion_id IS NULL THEN ''
                          ELSE 'jobs/' || NEW.suggestion_job_id || '/suggestions/'
                               || NEW.suggestion_id END,
            'suggestion_count', NEW.suggestion_count),
        'error', encode(NEW.error, 'base64'));
    IF NEW.state = 'FAILED' THEN
        PERFORM webhook_emit('JOB_FAILED', NEW.target, 'jobs/' || NEW.id, facts);
    ELSIF NEW.state = 'SUCCEEDED' AND NEW.kind = 'ANALYZE' THEN
        SELECT count(*),
               coalesce(jsonb_agg(jsonb_build_object(
                   'name', 'jobs/' || NEW.id || '/suggestions/' || s.id,
                   'kind', s.kind, 'title', s.title) ORDER BY s.create_time, s.id)
                   FILTER (WHERE s.n <= 10), '[]'::jsonb)
        INTO fresh, listed
        FROM (SELECT id, kind, title, create_time,
                     row_number() OVER (ORDER BY create_time, id) AS n
              FROM suggestion
              WHERE job_id = NEW.id AND state = 'PENDING' AND prior_decision = ''
                AND NOT superseded) AS s;
        IF fresh > 0 THEN
            PERFORM webhook_emit(
                'ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS', NEW.target, 'jobs/' || NEW.id,
                facts || jsonb_build_object('new_suggestions', fresh, 'suggestions', listed));
        END IF;
    END IF;
    RETURN NULL;
END
$$
"""

_TRIGGER = """
CREATE TRIGGER job_webhook_events AFTER UPDATE OF state ON job
FOR EACH ROW
WHEN (NEW.state IS DISTINCT FROM OLD.state AND NEW.state IN ('SUCCEEDED', 'FAILED'))
EXECUTE FUNCTION job_webhook_events()
"""


def upgrade() -> None:
    op.create_table(
        "webhook",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_types", ARRAY(sa.Text()), nullable=False),
        sa.Column("target_filter", sa.Text(), nullable=False, server_default=""),
        sa.Column("target_pattern", sa.Text(), nullable=False, server_default="%"),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("creator", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default=sa.text("1")),
        sa.Column("create_time", _TS, nullable=False, server_default=_NOW),
        sa.Column("update_time", _TS, nullable=False, server_default=_NOW),
        sa.PrimaryKeyConstraint("id", name="pk_webhook"),
        sa.CheckConstraint("format IN ('GENERIC', 'SLACK')", name="ck_webhook_format"),
        sa.CheckConstraint(
            f"event_types <@ ARRAY{list(_EVENT_TYPES)}::text[]", name="ck_webhook_event_types"
        ),
    )
    op.create_index(
        "ix_webhook_create_time_id", "webhook", [sa.text("create_time DESC"), sa.text("id DESC")]
    )
    op.create_table(
        "webhook_event",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False, server_default=""),
        sa.Column("resource", sa.Text(), nullable=False, server_default=""),
        sa.Column("payload", JSONB(), nullable=False),
        sa.Column("create_time", _TS, nullable=False, server_default=_NOW),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_event"),
    )
    op.create_index("ix_webhook_event_create_time", "webhook_event", ["create_time"])
    op.create_table(
        "webhook_delivery",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("webhook_id", UUID(as_uuid=True), nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_time", _TS, nullable=False, server_default=_NOW),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_expire_time", _TS, nullable=True),
        sa.Column("create_time", _TS, nullable=False, server_default=_NOW),
        sa.Column("update_time", _TS, nullable=False, server_default=_NOW),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_delivery"),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhook.id"],
            name="fk_webhook_delivery_webhook_id_webhook",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["webhook_event.id"],
            name="fk_webhook_delivery_event_id_webhook_event",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "webhook_id", "event_id", name="uq_webhook_delivery_webhook_id_event_id"
        ),
        sa.CheckConstraint(
            "state IN ('PENDING', 'DELIVERED', 'FAILED')", name="ck_webhook_delivery_state"
        ),
    )
    op.create_index(
        "ix_webhook_delivery_webhook_id_create_time_id",
        "webhook_delivery",
        ["webhook_id", sa.text("create_time DESC"), sa.text("id DESC")],
    )
    op.create_index("ix_webhook_delivery_event_id", "webhook_delivery", ["event_id"])
    op.create_index(
        "ix_webhook_delivery_next_attempt_time",
        "webhook_delivery",
        ["next_attempt_time"],
        postgresql_where=sa.text("state = 'PENDING'"),
    )
    op.create_table(
        "webhook_attempt",
        sa.Column("delivery_id", UUID(as_uuid=True), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("time", _TS, nullable=False, server_default=_NOW),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("error", sa.Text(), nullable=False, server_default=""),
        sa.Column("duration_seconds", sa.Double(), nullable=False, server_default=sa.text("0")),
        sa.PrimaryKeyConstraint("delivery_id", "number", name="pk_webhook_attempt"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_delivery.id"],
            name="fk_webhook_attempt_delivery_id_webhook_delivery",
            ondelete="CASCADE",
        ),
    )
    op.execute(_EMIT)
    op.execute(_JOB_EVENTS)
    op.execute(_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER job_webhook_events ON job")
    op.execute("DROP FUNCTION job_webhook_events()")
    op.execute("DROP FUNCTION webhook_emit(text, text, text, jsonb)")
    op.drop_table("webhook_attempt")
    op.drop_table("webhook_delivery")
    op.drop_table("webhook_event")
    op.drop_table("webhook")
