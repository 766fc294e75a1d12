"""Reading column use out of EXPLAIN plans, and reading settings."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from optimizer_service import plans
from optimizer_service.model import Table
from optimizer_service.settings import Settings

PLAN = [
    {
        "Plan": {
            "Node Type": "Sort",
            "Total Cost": 120.5,
            "Sort Key": ["o.created DESC"],
            "Output": ["o.id", "o.created", "c.name"],
            "Plans": [
                {
                    "Node Type": "Hash Join",
                    "Hash Cond": "(o.customer_id = c.id)",
                    "Output": ["o.id", "o.created", "c.name"],
                    "Plans": [
                        {
                            "Node Type": "Seq Scan",
                            "Relation Name": "orders",
                            "Schema": "public",
                            "Alias": "o",
                            "Output": ["o.id", "o.customer_id", "o.created", "o.note"],
                            "Filter": "((o.status = 'open'::text) AND "
                            "(o.created >= '2024-01-01'::date) AND "
                            "(o.flag = ANY ('{1,2}'::int[])))",
                        },
                        {
                            "Node Type": "Seq Scan",
                            "Relation Name": "customers",
                            "Schema": "public",
                            "Alias": "c",
                            "Output": ["c.id", "c.name"],
                        },
                    ],
                }
            ],
        }
    }
]


def test_plan_facts_classify_columns_per_table():
    facts = plans.facts(json.loads(json.dumps(PLAN)))
    orders, customers = Table("public", "orders"), Table("public", "customers")
    assert facts.tables == {orders, customers} and facts.cost == 120.5
    use = facts.uses[orders]
    assert use.eq == {"status", "flag"} and use.range == {"created"}
    assert use.join == {"customer_id"} and use.orders == [("created",)]
    # `note` is only in the scan's physical target list: not needed by the query.
    assert "note" not in use.used and {"id", "created"} <= use.used
    assert facts.uses[customers].join == {"id"}


def test_targets_from_json_env_and_toml_file(tmp_path, monkeypatch):
    toml = tmp_path / "targets.toml"
    toml.write_text(
        '[[targets]]\nname = "shop"\ndsn = "postgresql://a:b@h/db"\n'
        'what_if_engine = "transactional"\n'
    )
    monkeypatch.setenv("PGSAGE_OPTIMIZER_TARGETS_FILE", str(toml))
    monkeypatch.setenv(
        "PGSAGE_OPTIMIZER_TARGETS",
        '[{"name": "demo", "dsn": "postgresql://x@h/d", "sandbox": "shop"}]',
    )
    settings = Settings()
    assert settings.grpc_port == 50052
    assert [t.name for t in settings.targets] == ["demo", "shop"]
    assert settings.target("shop").what_if_engine == "transactional"
    assert "a:b" not in repr(settings)


def test_duplicate_or_bad_targets_fail_at_start(monkeypatch):
    monkeypatch.setenv(
        "PGSAGE_OPTIMIZER_TARGETS",
        '[{"name": "a", "dsn": "postgresql://h/d"}, {"name": "a", "dsn": "postgresql://h/e"}]',
    )
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv(
        "PGSAGE_OPTIMIZER_TARGETS", '[{"name": "a", "dsn": "x", "what_if_engine": "magic"}]'
    )
    with pytest.raises(ValidationError):
        Settings()
