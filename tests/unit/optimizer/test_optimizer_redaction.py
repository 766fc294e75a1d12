"""What may leave the optimizer of a target's errors and values: a driver error is its
SQLSTATE and a pgsage message (the log gets it with every value replaced), and a plan keeps
its structure but loses its literals unless the target shows values."""

from __future__ import annotations

import json
import logging

import asyncpg

from optimizer_service import errors, redact

CARD = "4111111111000042"


def test_a_driver_error_becomes_its_sqlstate_and_the_log_never_holds_its_values(caplog):
    caplog.set_level(logging.DEBUG)
    exc = asyncpg.exceptions.UniqueViolationError(
        f'duplicate key value violates unique constraint "c" Key (card)=({CARD})'
    )
    exc.message = f'invalid input syntax for type integer: "{CARD}" Key (card)=({CARD})'  # type: ignore[attr-defined]
    text = errors.from_target(exc, "measure")
    assert text == "SQLSTATE 23505: unique violation"
    assert CARD not in caplog.text and "23505" in caplog.text


def test_a_connection_failure_is_described_without_its_text():
    assert errors.from_target(OSError(f"refused {CARD}")) == "the connection failed"


def test_a_plan_keeps_its_structure_and_loses_its_literals():
    plan = {
        "Plan": {
            "Node Type": "Index Scan",
            "Index Name": "secrets_card_idx",
            "Relation Name": "secrets",
            "Index Cond": f"(card = '{CARD}'::text)",
            "Filter": "(amount > 1234.5)",
            "Output": ["id", "col2", "$1"],
            "Plan Rows": 1,
        }
    }
    shown = redact.plan(plan)["Plan"]
    assert shown["Index Cond"] == "(card = '<redacted>'::text)"
    assert shown["Filter"] == "(amount > <redacted>)"
    assert shown["Output"] == ["id", "col2", "$1"]
    assert shown["Index Name"] == "secrets_card_idx" and shown["Plan Rows"] == 1
    raw = json.dumps(plan)
    assert CARD not in redact.plan_json(raw, show_values=False)
    assert redact.plan_json(raw, show_values=True) == raw


def test_drawn_values_are_redacted_unless_the_target_shows_them():
    assert redact.values([CARD, "7"], show_values=False) == ["<redacted>", "<redacted>"]
    assert redact.values([CARD], show_values=True) == [CARD]
