"""Keeping a target's data values out of what pgsage returns, unless the target opts in.

A plan shows the constants it was planned or run with: values drawn from pg_stats
(histogram bounds, most-common values) for an analysis, values drawn from the table for a
benchmark. For a target without `show_values = true`, every literal in a plan's conditions
and outputs becomes `<redacted>` (plan structure, names and numbers of the planner stay),
and drawn parameter values are replaced the same way, so neither a response nor the job
service's stored rows ever hold them.
"""

from __future__ import annotations

import json
import re
from typing import Any

REDACTED = "<redacted>"
# Plan keys whose text is structure (names, kinds), never a value.
_STRUCTURE = frozenset(
    {
        "Node Type",
        "Relation Name",
        "Schema",
        "Alias",
        "Index Name",
        "Strategy",
        "Join Type",
        "Parent Relationship",
        "Scan Direction",
        "Operation",
        "Partial Mode",
        "Subplan Name",
        "CTE Name",
        "Function Name",
        "Command",
        "Sort Method",
        "Sort Space Type",
    }
)
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w$.])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])")


def text(value: str) -> str:
    """`value` (a plan's condition or output) with every literal replaced."""
    return _NUMBER.sub(REDACTED, _STRING.sub(f"'{REDACTED}'", value))


def plan(node: Any) -> Any:
    """A copy of an EXPLAIN JSON plan (dicts and lists) without the literals it shows."""
    if isinstance(node, dict):
        return {
            k: v if k in _STRUCTURE and isinstance(v, str) else plan(v) for k, v in node.items()
        }
    if isinstance(node, list):
        return [plan(v) for v in node]
    if isinstance(node, str):
        return text(node)
    return node


def plan_json(raw: str, show_values: bool) -> str:
    """A plan serialised as JSON, redacted unless `show_values`."""
    if show_values or not raw:
        return raw
    return json.dumps(plan(json.loads(raw)))


def values(drawn: list[str] | tuple[str, ...], show_values: bool) -> list[str]:
    """Drawn parameter values, each one `<redacted>` unless `show_values`."""
    return list(drawn) if show_values else [REDACTED for _ in drawn]
