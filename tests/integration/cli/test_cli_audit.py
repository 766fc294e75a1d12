"""`pgsage audit list` and `pgsage audit verify` as a shell user runs them, against a real job
service whose audit trail is then tampered with in SQL."""

from __future__ import annotations

import json

import asyncpg

from tests.support import stack as pgsage_stack


async def _approve_some(pgsage, store: str, n: int) -> list[str]:
    job = (await pgsage("analyze", "--target", "audit-cli")).out.strip()
    names = []
    for i in range(n):
        name = await pgsage_stack.seed_suggestion(store, job, column=f"c{i}")
        assert (await pgsage("suggestions", "approve", name)).code == 0
        names.append(name)
    return names


async def _record_ids(store: str) -> list[str]:
    conn = await asyncpg.connect(store)
    try:
        rows = await conn.fetch("SELECT id FROM audit_record ORDER BY chain_position")
    finally:
        await conn.close()
    return [f"auditRecords/{r['id']}" for r in rows]


async def test_audit_list_shows_who_did_what_and_filters(pgsage, store):
    [first, second] = await _approve_some(pgsage, store, 2)
    listed = await pgsage("audit", "list")
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert lines[0].split() == ["TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "RESOURCE"]
    assert second in lines[1] and "suggestion.approve" in lines[1]
    one = await pgsage("audit", "list", "--filter", f'resource = "{first}"', "--json")
    [record] = json.loads(one.out)
    assert (record["resource"], record["action"]) == (first, "suggestion.approve")
    assert len(record["digest"]) == 64
    bad = await pgsage("audit", "list", "--filter", "colour = red")
    assert bad.code == 2 and bad.out == ""
    assert len(bad.err.strip().splitlines()) == 1 and "colour" in bad.err


async def test_audit_verify_passes_on_an_intact_trail_and_names_an_altered_record(pgsage, store):
    await _approve_some(pgsage, store, 3)
    ids = await _record_ids(store)
    intact = await pgsage("audit", "verify")
    assert intact.code == 0, intact.err
    assert intact.out.startswith(f"intact: {len(ids)} records checked.")

    victim = ids[1]
    conn = await asyncpg.connect(store)
    try:
        original = await conn.fetchval(
            "SELECT detail FROM audit_record WHERE id = $1", victim.split("/")[1]
        )
        await conn.execute(
            "UPDATE audit_record SET detail = 'approved by the change board' WHERE id = $1",
            victim.split("/")[1],
        )
        broken = await pgsage("audit", "verify")
        as_json = await pgsage("audit", "verify", "--json")
    finally:
        # Put it back: the chain is whole again (and the other tests of this module see it so).
        await conn.execute(
            "UPDATE audit_record SET detail = $2 WHERE id = $1", victim.split("/")[1], original
        )
        await conn.close()
    assert broken.code == 1
    assert broken.out.startswith(f"NOT intact: ALTERED {victim} (after 2 records checked)")
    assert json.loads(as_json.out)["firstBadRecord"] == victim and as_json.code == 1
    assert (await pgsage("audit", "verify")).code == 0


async def test_audit_verify_names_the_record_after_a_deleted_one(pgsage, store):
    await _approve_some(pgsage, store, 3)
    ids = await _record_ids(store)
    gone = ids[-2].split("/")[1]
    conn = await asyncpg.connect(store)
    try:
        row = await conn.fetchval(
            "SELECT row_to_json(a)::text FROM audit_record a WHERE id = $1", gone
        )
        await conn.execute("DELETE FROM audit_record WHERE id = $1", gone)
        broken = await pgsage("audit", "verify")
    finally:
        # Put it back as it was (past the trigger, which would re-chain it at the end).
        async with conn.transaction():
            await conn.execute("ALTER TABLE audit_record DISABLE TRIGGER audit_record_append")
            await conn.execute(
                "INSERT INTO audit_record "
                "SELECT * FROM json_populate_record(NULL::audit_record, $1::json)",
                row,
            )
            await conn.execute("ALTER TABLE audit_record ENABLE TRIGGER audit_record_append")
        await conn.close()
    assert broken.code == 1
    assert f"REMOVED {ids[-1]}" in broken.out and "is missing" in broken.out
    assert (await pgsage("audit", "verify")).code == 0
