"""Analytics end to end: each report against the same aggregate computed in Python.

The seeded rows are this module's own: currencies no other test uses, emails under a unique
prefix, and the range reports' rows in a random window of 2001, so other tests' orders never
enter an aggregate compared here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
import pytest
from sqlalchemy import Executable, text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.analytics import REPORTS, Report, ReportParams, ReportTimeoutError
from service.analytics.execution import run_with_timeout
from service.cluster import Topology
from service.db import Intent, ReadQuery
from service.db.router import DatabaseRouter
from service.db.selection import Demand
from service.db.session import CLIENT_GRACE as CLIENT_GRACE_SECONDS
from service.settings import Settings
from tests.integration.helpers import (
    Client,
    one_connection,
    primary_fetch,
    table_counts,
    wait_for_replicas,
)

UTC = dt.UTC
MICRO = dt.timedelta(microseconds=1)
STATUSES = ("pending", "completed", "cancelled", "refunded")
SLOW_MARK = "analytics-slow-probe"


async def in_autocommit(conn: AsyncConnection) -> bool:
    """Whether statements on `conn` run outside any transaction block, asked of the server:
    inside one, `now()` (the transaction's start) stays the same from statement to statement."""
    first = (await conn.exec_driver_sql("SELECT now()")).scalar()
    await conn.exec_driver_sql("SELECT pg_sleep(0.002)")
    return first != (await conn.exec_driver_sql("SELECT now()")).scalar()


MONEY = re.compile(r"^\d+\.\d{2}$")


@dataclass(frozen=True)
class Order:
    customer_id: int
    status: str
    amount: Decimal
    currency: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Seed:
    orders: list[Order]
    customers: dict[int, tuple[str, str]]  # id -> (email, name)
    currencies: tuple[str, ...]
    prefix: str
    today: dt.date
    window: tuple[dt.datetime, dt.datetime]  # [from, to) of the range reports: only ours


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), UTC)


def stamp(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def plan_orders(
    rng: random.Random, now: dt.datetime, window: tuple[dt.datetime, dt.datetime]
) -> list[tuple[dt.datetime, str]]:
    """(created_at, status) over ten days, every status, and both sides of every edge."""
    rows: list[tuple[dt.datetime, str]] = []
    for days_ago in range(10):
        start = midnight(now.date() - dt.timedelta(days=days_ago))
        span = now - start if days_ago == 0 else dt.timedelta(days=1)
        rows += [(start + rng.random() * span, rng.choice(STATUSES)) for _ in range(8)]
    edges = [midnight(now.date() - dt.timedelta(days=days - 1)) for days in (1, 7)]
    lo, hi = window
    edges += [lo, hi]
    rows += [(at, status) for edge in edges for at in (edge, edge - MICRO) for status in STATUSES]
    rows += [(lo + rng.random() * (hi - lo), rng.choice(STATUSES)) for _ in range(40)]
    return rows


async def insert_seed(cluster: Topology) -> Seed:
    rng = random.Random(uuid.uuid4().int)
    letters = [chr(65 + i) for i in range(26)]
    # Q-codes other than QAR are not real currencies: no other test uses them.
    pairs = [a + b for a in letters for b in letters if a + b != "AR"]
    currencies = tuple(sorted("Q" + pair for pair in rng.sample(pairs, 3)))
    prefix = f"an-{uuid.uuid4().hex[:10]}-"
    now = dt.datetime.now(UTC)
    base = dt.datetime(2001, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=rng.randrange(300 * 86400))
    window = (base, base + dt.timedelta(days=3))
    conn = await asyncpg.connect(cluster.direct_url("primary"))
    try:
        records = await conn.fetch(
            "INSERT INTO customers (email, name) SELECT * FROM unnest($1::text[], $2::text[])"
            " RETURNING id, email, name",
            [f"{prefix}{i:02d}@example.com" for i in range(8)],
            [f"Customer {i}" for i in range(8)],
        )
        customers = {r["id"]: (r["email"], r["name"]) for r in records}
        # Amounts a float would not keep exact, and zero and one cent, then random cents.
        special = [Decimal("9999999999.99"), Decimal("0.01"), Decimal("0.00"), Decimal("0.10")]
        orders = [
            Order(
                customer_id=rng.choice(list(customers)),
                status=status,
                amount=special[i]
                if i < len(special)
                else Decimal(rng.randrange(100_000)).scaleb(-2),
                currency=currencies[i % len(currencies)],
                created_at=at,
            )
            for i, (at, status) in enumerate(plan_orders(rng, now, window))
        ]
        await conn.execute(
            "INSERT INTO orders (external_id, customer_id, status, total_amount, currency,"
            " created_at, updated_at) SELECT e, c, s, a, cur, t, t FROM unnest($1::text[],"
            " $2::bigint[], $3::text[], $4::numeric[], $5::text[], $6::timestamptz[])"
            " AS u(e, c, s, a, cur, t)",
            [f"{prefix}{i}" for i in range(len(orders))],
            [o.customer_id for o in orders],
            [o.status for o in orders],
            [o.amount for o in orders],
            [o.currency for o in orders],
            [o.created_at for o in orders],
        )
    finally:
        await conn.close()
    await wait_for_replicas(cluster)
    return Seed(orders, customers, currencies, prefix, now.date(), window)


@pytest.fixture(scope="module")
async def seed(cluster: Topology, migrated: None) -> Seed:
    return await insert_seed(cluster)


def group(
    orders: list[Order], keep: Callable[[Order], bool], key: Callable[[Order], tuple[Any, ...]]
) -> dict[tuple[Any, ...], tuple[int, Decimal]]:
    totals: dict[tuple[Any, ...], tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
    for order in filter(keep, orders):
        count, amount = totals[key(order)]
        totals[key(order)] = (count + 1, amount + order.amount)
    return dict(sorted(totals.items()))


async def run(client: Client, name: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/analytics/{name}", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["X-DB-Node"].startswith("replica-")
    body: dict[str, Any] = response.json()
    assert body["report"] == name
    assert body["truncated"] is False
    return body


def ours(rows: list[dict[str, Any]], seed: Seed) -> list[dict[str, Any]]:
    return [row for row in rows if row["currency"] in seed.currencies]


@pytest.mark.parametrize(
    ("days", "status"), [(1, "completed"), (7, "completed"), (7, "pending"), (366, "refunded")]
)
async def test_daily_revenue_matches_python(
    client: Client, seed: Seed, days: int, status: str
) -> None:
    start = midnight(seed.today - dt.timedelta(days=days - 1))
    expected = [
        {"day": day.isoformat(), "currency": cur, "order_count": n, "revenue": str(total)}
        for (day, cur), (n, total) in group(
            seed.orders,
            lambda o: o.status == status and o.created_at >= start,
            lambda o: (o.created_at.date(), o.currency),
        ).items()
    ]
    assert expected, "the seed must give this case rows to compare"
    body = await run(client, "daily-revenue", days=days, status=status)
    assert body["params"] == {"days": days, "status": status, "currency": None}
    assert ours(body["rows"], seed) == expected
    assert all(MONEY.match(row["revenue"]) for row in body["rows"])
    one = seed.currencies[0]
    filtered = await run(client, "daily-revenue", days=days, status=status, currency=one)
    assert filtered["rows"] == [row for row in expected if row["currency"] == one]


@pytest.mark.parametrize(
    ("days_back", "limit", "status"),
    [(5, 3, "completed"), (9, 100, "pending"), (0, 1, "completed")],
)
async def test_top_customers_matches_python(
    client: Client, seed: Seed, days_back: int, limit: int, status: str
) -> None:
    since = seed.today - dt.timedelta(days=days_back)
    totals = group(
        seed.orders,
        lambda o: o.status == status and o.created_at >= midnight(since),
        lambda o: (o.currency, o.customer_id),
    )
    expected = []
    for currency in seed.currencies:
        ranked = sorted(((-t[1], cid, t) for (cur, cid), t in totals.items() if cur == currency))
        for rank, (_, cid, (n, total)) in enumerate(ranked[:limit], start=1):
            email, name = seed.customers[cid]
            expected.append(
                {
                    "currency": currency,
                    "rank": rank,
                    "customer_id": cid,
                    "email": email,
                    "name": name,
                    "order_count": n,
                    "revenue": str(total),
                }
            )
    assert expected
    by_prefix = await run(
        client,
        "top-customers",
        since=since.isoformat(),
        limit=limit,
        status=status,
        email_prefix=seed.prefix.upper(),
    )
    assert by_prefix["rows"] == expected
    one = seed.currencies[-1]
    by_currency = await run(
        client, "top-customers", since=since.isoformat(), limit=limit, status=status, currency=one
    )
    assert by_currency["rows"] == [row for row in expected if row["currency"] == one]


@pytest.mark.parametrize("currency", [None, 0])
async def test_order_status_breakdown_matches_python(
    client: Client, seed: Seed, currency: int | None
) -> None:
    lo, hi = seed.window
    code = None if currency is None else seed.currencies[currency]
    expected = [
        {"status": status, "currency": cur, "order_count": n, "amount": str(total)}
        for (status, cur), (n, total) in group(
            seed.orders,
            lambda o: lo <= o.created_at < hi and code in (None, o.currency),
            lambda o: (o.status, o.currency),
        ).items()
    ]
    params = {"from": stamp(lo), "to": stamp(hi)} | ({"currency": code} if code else {})
    body = await run(client, "order-status-breakdown", **params)
    assert body["rows"] == expected
    assert sum(row["order_count"] for row in body["rows"]) == sum(
        1 for o in seed.orders if lo <= o.created_at < hi and code in (None, o.currency)
    )


@pytest.mark.parametrize("status", ["completed", "refunded"])
async def test_revenue_by_currency_matches_python(client: Client, seed: Seed, status: str) -> None:
    lo, hi = seed.window
    expected = [
        {"currency": cur, "order_count": n, "revenue": str(total)}
        for (cur,), (n, total) in group(
            seed.orders,
            lambda o: o.status == status and lo <= o.created_at < hi,
            lambda o: (o.currency,),
        ).items()
    ]
    body = await run(
        client, "revenue-by-currency", **{"from": stamp(lo), "to": stamp(hi), "status": status}
    )
    assert body["rows"] == expected
    # One microsecond less drops the seeded row just inside `to`: the answer must change.
    narrower = await run(
        client,
        "revenue-by-currency",
        **{"from": stamp(lo), "to": stamp(hi - MICRO), "status": status},
    )
    assert (
        sum(r["order_count"] for r in narrower["rows"])
        == sum(r["order_count"] for r in expected) - 1
    )


async def test_strong_consistency_runs_the_report_on_the_primary(
    client: Client, seed: Seed
) -> None:
    params = {"from": stamp(seed.window[0]), "to": stamp(seed.window[1])}
    replica = await run(client, "order-status-breakdown", **params)
    strong = await client.get(
        "/analytics/order-status-breakdown", params=params, headers={"X-DB-Consistency": "strong"}
    )
    assert strong.status_code == 200, strong.text
    assert strong.headers["X-DB-Node"] == "primary"
    assert strong.json()["rows"] == replica["rows"] != []


async def test_catalog_lists_every_report_with_its_params(client: Client) -> None:
    response = await client.get("/analytics")
    assert response.status_code == 200
    assert "X-DB-Node" not in response.headers  # the catalog needs no database
    reports = {r["name"]: r for r in response.json()["reports"]}
    builtin = ("daily-revenue", "top-customers", "order-status-breakdown", "revenue-by-currency")
    assert set(builtin) <= set(reports)
    for report in (reports[name] for name in builtin):
        assert report["description"]
        assert report["params"]
        assert all({"name", "type", "required", "default"} <= set(p) for p in report["params"])
    daily = {p["name"]: p for p in reports["daily-revenue"]["params"]}
    assert (daily["days"]["minimum"], daily["days"]["maximum"], daily["days"]["default"]) == (
        1,
        366,
        30,
    )
    assert daily["status"]["default"] == "completed"
    assert set(daily["status"]["enum"]) == set(STATUSES)
    top = {p["name"]: p for p in reports["top-customers"]["params"]}
    assert (top["limit"]["minimum"], top["limit"]["maximum"]) == (1, 100)
    assert top["since"]["required"] is True
    assert top["since"]["type"] == "date"
    ranges = {p["name"]: p for p in reports["revenue-by-currency"]["params"]}
    assert ranges["from"]["type"] == ranges["to"]["type"] == "datetime"


async def test_unknown_report_is_404(client: Client) -> None:
    for name in ("no-such-report", "daily-revenue;DROP TABLE orders"):
        response = await client.get(f"/analytics/{name}")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("not-found")


WINDOW = {"from": "2001-01-01T00:00:00Z", "to": "2001-02-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("daily-revenue", {"days": "0"}, "days"),
        ("daily-revenue", {"days": "367"}, "days"),
        ("daily-revenue", {"days": "a week"}, "days"),
        ("daily-revenue", {"status": "shipped"}, "status"),
        ("daily-revenue", {"currency": "usd"}, "currency"),
        ("daily-revenue", {"colour": "red"}, "colour"),
        ("top-customers", {}, "since"),
        ("top-customers", {"since": "yesterday"}, "since"),
        ("top-customers", {"since": "2024-01-01", "limit": "0"}, "limit"),
        ("top-customers", {"since": "2024-01-01", "limit": "101"}, "limit"),
        ("top-customers", {"since": "2024-01-01", "email_prefix": ""}, "email_prefix"),
        ("order-status-breakdown", {"from": WINDOW["from"]}, "to"),
        ("order-status-breakdown", {"to": WINDOW["to"]}, "from"),
        ("order-status-breakdown", {**WINDOW, "from": "2001-01-01T00:00:00"}, "from"),
        ("order-status-breakdown", {"from": WINDOW["to"], "to": WINDOW["from"]}, "to"),
        ("revenue-by-currency", {"from": WINDOW["from"], "to": WINDOW["from"]}, "to"),
        ("revenue-by-currency", {**WINDOW, "status": "COMPLETED"}, "status"),
    ],
)
async def test_bad_or_missing_param_is_422_naming_it(
    client: Client, name: str, params: dict[str, str], field: str
) -> None:
    response = await client.get(f"/analytics/{name}", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == field
    assert problem["detail"].startswith(f"{field}: ")


async def test_a_repeated_param_is_422(client: Client) -> None:
    response = await client.get("/analytics/daily-revenue?days=1&days=2")
    assert response.status_code == 422
    assert response.json()["field"] == "days"


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("daily-revenue", {"days": "1"}),
        ("daily-revenue", {"days": "366"}),
        ("top-customers", {"since": "2024-01-01", "limit": "1"}),
        ("top-customers", {"since": "2024-01-01", "limit": "100"}),
        (
            "order-status-breakdown",
            {"from": WINDOW["from"], "to": "2001-01-01T00:00:00.000001+00:00"},
        ),
    ],
)
async def test_values_on_the_bounds_are_accepted(
    client: Client, name: str, params: dict[str, str]
) -> None:
    """The other side of the 422 cases: the bounds themselves are valid."""
    assert (await client.get(f"/analytics/{name}", params=params)).status_code == 200


INJECTIONS = [
    "x' OR '1'='1",
    "'; DROP TABLE orders; --",
    "%",
    "_",
    "a/* */b",
    "USD'--",
    "\\'); DELETE FROM customers; --",
]


@pytest.mark.parametrize("payload", INJECTIONS)
async def test_injection_is_rejected_or_bound_harmlessly(
    client: Client, cluster: Topology, seed: Seed, payload: str
) -> None:
    before = await table_counts(cluster)
    string_params = {
        "daily-revenue": ["status", "currency"],
        "top-customers": ["since", "status", "currency", "email_prefix"],
        "order-status-breakdown": ["from", "to", "currency"],
        "revenue-by-currency": ["from", "to", "status"],
    }
    valid = {
        "top-customers": {"since": "2001-01-01"},
        "order-status-breakdown": WINDOW,
        "revenue-by-currency": WINDOW,
    }
    for name, fields in string_params.items():
        for field in fields:
            response = await client.get(
                f"/analytics/{name}", params={**valid.get(name, {}), field: payload}
            )
            if response.status_code == 422:
                assert response.json()["field"] == field
                continue
            # Only free text gets through validation, and it is bound: it matches no email,
            # where a spliced `' OR '1'='1` or a LIKE pattern `%` would have matched all.
            assert (name, field, response.status_code) == ("top-customers", "email_prefix", 200)
            assert response.json()["rows"] == []
    # A bound prefix still matches what it should: the empty answers above mean something.
    assert (await run(client, "top-customers", since="2001-01-01", email_prefix=seed.prefix))[
        "rows"
    ]
    assert await table_counts(cluster) == before
    assert (
        await primary_fetch(
            cluster,
            "SELECT to_regclass('orders') IS NOT NULL AND to_regclass('customers') IS NOT NULL",
        )
    )[0][0]


# ---- test-only reports: the timeout, the row limit and the session's settings ----------------


class SleepParams(ReportParams, frozen=True):
    seconds: float


class SleepRow(msgspec.Struct, frozen=True):
    done: int


class SeriesParams(ReportParams, frozen=True):
    count: int


class SeriesRow(msgspec.Struct, frozen=True):
    n: int


class NoParams(ReportParams, frozen=True):
    pass


class SettingsRow(msgspec.Struct, frozen=True):
    statement_timeout: str
    read_only: str
    standby: bool


SLEEP_SQL = "SELECT 1 AS done FROM pg_sleep(:seconds) /* analytics-slow-probe */ LIMIT :row_limit"
TEST_REPORTS = [
    Report("test-sleep", "sleeps", text(SLEEP_SQL), SleepParams, SleepRow, 0.2, 1),
    Report("test-sleep-patient", "sleeps", text(SLEEP_SQL), SleepParams, SleepRow, 3.0, 1),
    Report(
        "test-series",
        "1..count",
        text("SELECT g AS n FROM generate_series(1, :count) AS g ORDER BY g LIMIT :row_limit"),
        SeriesParams,
        SeriesRow,
        1.0,
        5,
    ),
    Report(
        "test-settings",
        "the session's settings as the report sees them",
        text(
            "SELECT current_setting('statement_timeout') AS statement_timeout,"
            " current_setting('transaction_read_only') AS read_only,"
            " pg_is_in_recovery() AS standby LIMIT :row_limit"
        ),
        NoParams,
        SettingsRow,
        1.5,
        1,
    ),
]


@pytest.fixture(scope="module", autouse=True)
def test_reports() -> Iterator[None]:
    for report in TEST_REPORTS:
        REPORTS.register(report)
    try:
        yield
    finally:
        for report in TEST_REPORTS:
            REPORTS.unregister(report.name)


async def active_sleepers(cluster: Topology, node: str) -> int:
    conn = await asyncpg.connect(cluster.direct_url(node))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                " AND pid <> pg_backend_pid() AND strpos(query, $1) > 0",
                SLOW_MARK,
            )
        )
    finally:
        await conn.close()


async def test_a_report_over_its_timeout_is_cancelled_on_the_server(
    client: Client, cluster: Topology
) -> None:
    # The observation sees a running sleeper (the test client serialises requests, so the
    # control runs the same SQL directly): the check after the 504 could have failed.
    replica = next(n.name for n in cluster.nodes if n.role == "replica")
    sleeper = await asyncpg.connect(cluster.direct_url(replica))
    try:
        running = asyncio.create_task(
            sleeper.fetch("SELECT pg_sleep(0.5) /* analytics-slow-probe */")
        )
        await asyncio.sleep(0.2)
        assert await active_sleepers(cluster, replica) == 1
        await running
    finally:
        await sleeper.close()

    started = time.monotonic()
    response = await client.get("/analytics/test-sleep?seconds=5")
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("report-timeout")
    assert problem["timeout_seconds"] == 0.2
    # The server's cancel, not the client deadline (0.2 s + grace) nor the 5 s sleep, ended it.
    assert 0.2 <= elapsed < 0.2 + CLIENT_GRACE_SECONDS
    node = response.headers["X-DB-Node"]
    assert node.startswith("replica-")
    assert await active_sleepers(cluster, node) == 0
    # The app's pools still work: more requests than a pool holds connections.
    for _ in range(12):
        assert (await client.get("/analytics/daily-revenue?days=1")).status_code == 200


async def test_the_report_sees_its_own_timeout_in_a_read_only_transaction(client: Client) -> None:
    for headers, standby in (({}, True), ({"X-DB-Consistency": "strong"}, False)):
        response = await client.get("/analytics/test-settings", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["rows"] == [
            {"statement_timeout": "1500ms", "read_only": "on", "standby": standby}
        ]


async def test_rows_past_max_rows_are_cut_and_flagged(client: Client) -> None:
    fits = (await client.get("/analytics/test-series?count=5")).json()
    assert [row["n"] for row in fits["rows"]] == [1, 2, 3, 4, 5]
    assert fits["truncated"] is False
    cut = (await client.get("/analytics/test-series?count=6")).json()
    assert [row["n"] for row in cut["rows"]] == [1, 2, 3, 4, 5]
    assert cut["truncated"] is True


@pytest.mark.parametrize("compiled", [False, True], ids=["sqlalchemy", "driver"])
@pytest.mark.parametrize("intent", [Intent.READ, Intent.STRONG_READ])
async def test_a_cancelled_report_leaves_its_connection_clean(
    settings: Settings, intent: Intent, compiled: bool
) -> None:
    """One pooled connection per node: after a report, cancelled or not, it is as it was.

    Both session shapes: the replica's (AUTOCOMMIT in direct mode) and the primary's
    (a READ ONLY transaction the core commits, where a plain SET would stick). Both ways a
    report runs: a SQLAlchemy statement, and a compiled ReadQuery (which a replica's
    autocommit connection runs straight on the driver, in a transaction of its own).
    """

    def statement(sql: str) -> Executable | ReadQuery:
        return ReadQuery(text(sql)) if compiled else text(sql)

    database = msgspec.structs.replace(
        settings.database,
        primary=one_connection(settings.database.primary),
        replicas=(one_connection(settings.database.replicas[0]),),
    )
    router = DatabaseRouter(database, settings.health)

    async def session_state() -> tuple[bool, str, int]:
        async with router.session(Demand(intent)) as db:
            autocommit = await in_autocommit(db.conn)
            row = (
                await db.execute(
                    text("SELECT current_setting('statement_timeout'), pg_backend_pid()")
                )
            ).one()
            values: tuple[object, ...] = tuple(row)
            return autocommit, str(values[0]), int(str(values[1]))

    await router.start()
    try:
        before = await session_state()
        # Replica reads run in autocommit (the standby refuses writes itself); strong reads in
        # a READ ONLY transaction on the primary.
        assert before[0] is (intent is Intent.READ)
        async with router.session(Demand(intent)) as db:
            rows = await run_with_timeout(db, statement("SELECT 1 AS one"), {}, "one", 0.2)
            assert [dict(row) for row in rows] == [{"one": 1}]
            node = db.node
        assert await session_state() == before
        with pytest.raises(ReportTimeoutError):
            async with router.session(Demand(intent)) as db:
                await run_with_timeout(db, statement("SELECT pg_sleep(5)"), {}, "sleep", 0.2)
        after = await session_state()
        assert after[:2] == before[:2]
        if node.pool_numbers() is not None:  # a client-side pool: the very same connection
            assert after[2] == before[2]
    finally:
        await router.stop()
