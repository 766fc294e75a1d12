"""The demo shop's workload: parameterised statements with frequencies, reads and writes.

Each statement has a weight: how many times it runs per round. Parameters are drawn from the
data's own distributions (customers and products by the same power law as the data, so hot
customers are asked about most) with a seeded generator, so two runs send the same calls.
Statements go through asyncpg's prepared statements, so pg_stat_statements records them with
`$n` placeholders and a call count each. The `events` table takes most of the writes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from pgsage.demo.schema import Size

Params = tuple[object, ...]


@dataclass(frozen=True)
class Statement:
    """One statement of the workload and how it is called."""

    name: str
    sql: str
    weight: int
    params: Callable[[random.Random, Size], Params]
    write: bool = False


def _zipf(rng: random.Random, n: int) -> int:
    return 1 + int(n * rng.random() ** 2)


def _ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


STATEMENTS: tuple[Statement, ...] = (
    Statement(
        "customer_orders",
        "SELECT id, status, total, created_at FROM orders WHERE customer_id = $1"
        " ORDER BY created_at DESC LIMIT 20",
        40,
        lambda r, s: (_zipf(r, s.customers),),
    ),
    Statement(
        "order_items",
        "SELECT oi.product_id, p.name, oi.quantity, oi.unit_price FROM order_items oi"
        " JOIN products p ON p.id = oi.product_id WHERE oi.order_id = $1",
        30,
        lambda r, s: (r.randint(1, s.orders),),
    ),
    Statement(
        "login",
        "SELECT id, name, segment FROM customers WHERE email = $1",
        30,
        lambda r, s: (f"user{_zipf(r, s.customers)}@example.com",),
    ),
    Statement(
        "order_payment",
        "SELECT method, status, amount, paid_at FROM payments WHERE order_id = $1",
        15,
        lambda r, s: (r.randint(1, s.orders),),
    ),
    Statement(
        "category_page",
        "SELECT id, name, price FROM products WHERE category = $1 AND active"
        " ORDER BY price LIMIT 24",
        10,
        lambda r, s: (f"category-{1 + int(40 * r.random() ** 2)}",),
    ),
    Statement(
        "pending_orders",
        "SELECT id, customer_id, total, created_at FROM orders WHERE status = $1"
        " AND created_at < $2 ORDER BY created_at LIMIT 50",
        5,
        lambda r, s: ("pending", _ago(3)),
    ),
    Statement(
        "product_sales",
        "SELECT date_trunc('day', o.created_at) AS day, sum(oi.quantity) AS units"
        " FROM order_items oi JOIN orders o ON o.id = oi.order_id"
        " WHERE oi.product_id = $1 AND o.created_at >= $2 GROUP BY 1 ORDER BY 1",
        3,
        lambda r, s: (_zipf(r, s.products), _ago(90)),
    ),
    Statement(
        "customer_events",
        "SELECT kind, created_at FROM events WHERE customer_id = $1"
        " ORDER BY created_at DESC LIMIT 50",
        2,
        lambda r, s: (_zipf(r, s.customers),),
    ),
    Statement(
        "daily_revenue",
        "SELECT status, count(*) AS orders, sum(total) AS revenue FROM orders"
        " WHERE created_at >= $1 GROUP BY status",
        1,
        lambda r, s: (_ago(7),),
    ),
    Statement(
        "track_event",
        "INSERT INTO events (customer_id, kind, created_at) VALUES ($1, $2, now())",
        60,
        lambda r, s: (_zipf(r, s.customers), r.choice(["page_view", "search", "add_to_cart"])),
        write=True,
    ),
    Statement(
        "place_order",
        "WITH o AS (INSERT INTO orders (customer_id, status, total, created_at)"
        " VALUES ($1, 'pending', $2, now()) RETURNING id)"
        " INSERT INTO order_items (order_id, product_id, quantity, unit_price)"
        " SELECT o.id, $3, $4, $2 FROM o",
        5,
        lambda r, s: (
            _zipf(r, s.customers),
            Decimal("19.99"),
            _zipf(r, s.products),
            r.randint(1, 3),
        ),
        write=True,
    ),
    Statement(
        "ship_order",
        "UPDATE orders SET status = 'shipped' WHERE id = $1 AND status = 'pending'",
        5,
        lambda r, s: (r.randint(1, s.orders),),
        write=True,
    ),
)


def calls(size: Size, rounds: int, seed: int = 7) -> list[tuple[Statement, Params]]:
    """The calls of `rounds` rounds, in a seeded shuffled order."""
    rng = random.Random(seed)
    out = [
        (st, st.params(rng, size))
        for _ in range(rounds)
        for st in STATEMENTS
        for _ in range(st.weight)
    ]
    rng.shuffle(out)
    return out


async def run(dsn: str, size: Size, rounds: int, concurrency: int = 2) -> tuple[int, set[int]]:
    """Runs the workload on `concurrency` connections: the number of calls, the sessions' pids."""
    queue: asyncio.Queue[tuple[Statement, Params]] = asyncio.Queue()
    work = calls(size, rounds)
    for item in work:
        queue.put_nowait(item)

    pids: set[int] = set()

    async def worker() -> None:
        conn = await asyncpg.connect(dsn)
        pids.add(conn.get_server_pid())
        try:
            while not queue.empty():
                statement, params = queue.get_nowait()
                await execute(conn, statement, params)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(work), pids


async def execute(conn: asyncpg.Connection, statement: Statement, params: Sequence[object]) -> None:
    """One call: reads fetch all rows; writes execute (and commit, outside a transaction)."""
    if statement.write:
        await conn.execute(statement.sql, *params)
    else:
        await conn.fetch(statement.sql, *params)
