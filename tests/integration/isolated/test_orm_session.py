"""The routed ORM session: an app of ORM models gets the same routing, read-only rule and
read re-run as one that uses the core's connection-level session."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from litestar import Litestar, get, post
from litestar.params import Parameter
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from sqlalchemy import DateTime, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.api.health import HealthController
from service.cluster import LocalCluster
from service.db import Orm, SwitchyardPlugin
from service.problems import not_found, problem_details_plugin
from tests.integration.conftest import MODE
from tests.integration.helpers import unique_email
from tests.integration.isolated.conftest import lab_settings
from tests.integration.isolated.nodes import health_of

EmailPath = Annotated[str, Parameter(description="customer email")]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    name: Mapped[str]
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


@post("/orm/customers/{email:str}", status_code=201)
async def create(email: EmailPath, orm: Orm) -> dict[str, str]:
    orm.add(Customer(email=email.lower(), name="orm"))
    return {"email": email.lower()}  # the dependency flushes and commits after this


@get("/orm/customers/{email:str}")
async def read(email: EmailPath, orm: Orm) -> dict[str, str]:
    found = (
        await orm.execute(select(Customer).where(Customer.email == email.lower()))
    ).scalar_one_or_none()
    if found is None:
        raise not_found(f"customer {email!r}")
    return {"email": found.email, "name": found.name}


@get("/orm/sneaky-write/{email:str}")
async def sneaky_write(email: EmailPath, orm: Orm) -> dict[str, str]:
    orm.add(Customer(email=email.lower(), name="sneaky"))
    await orm.flush()
    return {"email": email}


def orm_app(lab: LocalCluster, probe_interval: float | None = None) -> Litestar:
    settings = lab_settings(lab.env(MODE))
    if probe_interval is not None:
        health = msgspec.structs.replace(settings.health, interval=probe_interval)
        settings = msgspec.structs.replace(settings, health=health)
    return Litestar(
        [create, read, sneaky_write, HealthController],
        plugins=[SwitchyardPlugin(settings.database, settings.health), problem_details_plugin()],
    )


async def test_orm_writes_reach_the_primary_and_reads_a_replica(lab: LocalCluster) -> None:
    async with AsyncTestClient(app=orm_app(lab)) as client:
        email = unique_email("orm")
        created = await client.post(f"/orm/customers/{email}")
        assert created.status_code == 201, created.text
        assert created.headers["x-db-node"] == "primary"
        token = created.headers["x-db-lsn"]
        found = await client.get(f"/orm/customers/{email}", headers={"X-DB-Min-LSN": token})
        assert found.status_code == 200
        assert found.json()["name"] == "orm"
        assert found.headers["x-db-node"].startswith("replica-")
        # A duplicate is the database's unique violation, raised at the flush: a 409 problem.
        again = await client.post(f"/orm/customers/{email}")
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")


async def test_an_orm_write_in_a_read_handler_fails_loudly_and_writes_nothing(
    lab: LocalCluster,
) -> None:
    async with AsyncTestClient(app=orm_app(lab)) as client:
        email = unique_email("sneaky")
        for headers in ({}, {"X-DB-Consistency": "strong"}):  # a replica, then the primary
            response = await client.get(f"/orm/sneaky-write/{email}", headers=headers)
            assert response.status_code == 500
            assert response.json()["type"].endswith("write-in-read-session")
        strong = await client.get(f"/orm/customers/{email}", headers={"X-DB-Consistency": "strong"})
        assert strong.status_code == 404


async def test_an_orm_read_whose_replica_died_is_rerun_elsewhere(lab: LocalCluster) -> None:
    # A monitor too slow to notice first: the reads themselves meet the dead replica.
    async with AsyncTestClient(app=orm_app(lab, probe_interval=60.0)) as client:
        email = unique_email("rerun")
        created = await client.post(f"/orm/customers/{email}")
        token = created.headers["x-db-lsn"]
        for _ in range(4):  # warm both replicas' pools with connections that will break
            await client.get(f"/orm/customers/{email}", headers={"X-DB-Min-LSN": token})
        retries_before = REGISTRY.get_sample_value("switchyard_db_read_retries_total") or 0.0
        lab.stop("replica-1", "immediate")
        answers = [
            await client.get(f"/orm/customers/{email}", headers={"X-DB-Min-LSN": token})
            for _ in range(6)
        ]
        assert [a.status_code for a in answers] == [200] * 6
        assert {a.headers["x-db-node"] for a in answers} <= {"replica-2", "primary"}
        retries = REGISTRY.get_sample_value("switchyard_db_read_retries_total") or 0.0
        assert retries > retries_before, "premise: a read met the dead replica and was re-run"
        health = await health_of(client)
        assert health["replica-1"]["state"] == "banned"  # by the failed request, not a probe
