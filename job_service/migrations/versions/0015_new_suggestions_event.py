"""ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS counts only what is new since the previous analysis.

Before, the `job_webhook_events` trigger counted every pending suggestion without an earlier
decision, so a nightly schedule re-announced the same undecided suggestions every night.
Now, when the target has a previous comparable analysis (the one `job_service.comparisons`
compares with: same target, same caller-given queries, same analysis types), only the
suggestions flagged `new_since_last_analysis` count; the first analysis of a target still
announces everything it found. The flags are set before the job's state changes (same
transaction), so the trigger sees them.

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-05 18:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0010"
branch_labels = None
depends_on = None

_ONLY_NEW = """
CREATE OR REPLACE FUNCTION job_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
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
                AND NOT superseded
                AND (new_since_last_analysis OR NOT EXISTS (
                    SELECT 1 FROM job AS p
                    WHERE p.target = NEW.target AND p.kind = 'ANALYZE'
                      AND p.state = 'SUCCEEDED' AND p.id <> NEW.id
                      AND p.queries = NEW.queries
                      AND ARRAY(SELECT t FROM unnest(p.analysis_types) AS t ORDER BY t COLLATE "C")
                        = ARRAY(SELECT t FROM unnest(NEW.analysis_types) AS t
                                ORDER BY t COLLATE "C")))) AS s;
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

_ALL_UNDECIDED = """
CREATE OR REPLACE FUNCTION job_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
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


def upgrade() -> None:
    op.execute(_ONLY_NEW)


def downgrade() -> None:
    op.execute(_ALL_UNDECIDED)
