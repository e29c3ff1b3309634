"""Async Alembic environment. The URL is always the direct primary (never PgBouncer): it comes
from the caller (`switchyard migrate`) or, for plain `alembic` use, from the settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from service.api.tables import metadata
from service.settings import load_settings
from service.urls import asyncpg_connect_args

config = context.config


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or (
        load_settings().database.effective_migration_url
    )


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url, tls_args = asyncpg_connect_args(_url())  # the same TLS as the service's pools
    engine = create_async_engine(url, poolclass=NullPool, connect_args=tls_args)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
