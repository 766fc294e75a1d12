"""A target built for attacks: a `secrets` table of card numbers, and user objects with a
side effect (each call bumps the `side_effects` sequence): an IMMUTABLE-lying function, a
domain whose CHECK calls one, a user CAST and a user operator. Shared by the attack tests."""

from __future__ import annotations

import asyncpg

CARD_PREFIX = "4111111111"  # every card number in `secrets` starts so
SEED = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE secrets (id int PRIMARY KEY, card text NOT NULL);
INSERT INTO secrets SELECT g, '4111111111' || lpad(g::text, 6, '0')
FROM generate_series(1, 300) g;
CREATE TABLE t (a int NOT NULL, b int NOT NULL, note text NOT NULL);
INSERT INTO t SELECT g, g % 10, 'n' || g FROM generate_series(1, 2000) g;
CREATE INDEX t_b_dba ON t (b);
CREATE SEQUENCE side_effects;
CREATE FUNCTION bump(int) RETURNS int LANGUAGE plpgsql IMMUTABLE
    AS $$ BEGIN PERFORM nextval('side_effects'); RETURN $1; END $$;
CREATE FUNCTION bump_ok(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
    AS $$ BEGIN PERFORM nextval('side_effects'); RETURN true; END $$;
CREATE FUNCTION bump_text(int) RETURNS text LANGUAGE plpgsql IMMUTABLE
    AS $$ BEGIN PERFORM nextval('side_effects'); RETURN $1::text; END $$;
CREATE FUNCTION bump_eq(int, int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
    AS $$ BEGIN PERFORM nextval('side_effects'); RETURN $1 = $2; END $$;
CREATE DOMAIN checked_int AS int CHECK (bump_ok(VALUE));
CREATE CAST (int AS text) WITH FUNCTION bump_text(int);
CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = bump_eq);
CREATE FUNCTION bump_cmp(int, int) RETURNS int LANGUAGE plpgsql IMMUTABLE
    AS $$ BEGIN PERFORM nextval('side_effects'); RETURN btint4cmp($1, $2); END $$;
CREATE OPERATOR CLASS int_bump_ops FOR TYPE int USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 bump_cmp(int, int);
CREATE COLLATION my_c FROM "C";
CREATE TABLE guarded (a checked_int NOT NULL);
INSERT INTO guarded SELECT g FROM generate_series(1, 50) g;
CREATE TABLE checked (a int NOT NULL CHECK (bump_ok(a)));
INSERT INTO checked SELECT g FROM generate_series(1, 50) g;
"""


async def side_effects(dsn: str) -> tuple[int, bool]:
    """The sequence every user object bumps: (last_value, is_called)."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT last_value, is_called FROM side_effects")
        return int(row["last_value"]), bool(row["is_called"])
    finally:
        await conn.close()


def leaks(*texts: object) -> list[str]:
    """The texts that hold a card number (or a piece of one)."""
    return [str(t)[:200] for t in texts if CARD_PREFIX[:8] in str(t)]
