"""The sticky cookie is `Secure` when the request came over HTTPS, or when a setting says so
(TLS ended at a proxy), and only then."""

from __future__ import annotations

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.settings import Settings
from tests.integration.conftest import build_app
from tests.integration.helpers import unique_email


@pytest.mark.parametrize(
    ("base_url", "always", "secure"),
    [
        ("http://testserver.local", False, False),
        ("https://testserver.local", False, True),
        ("http://testserver.local", True, True),
    ],
)
async def test_secure_flag(settings: Settings, base_url: str, always: bool, secure: bool) -> None:
    database = msgspec.structs.replace(
        settings.database,
        sticky_window=5.0,
        sticky_secret="secure-cookie-secret-0123",
        sticky_secure=always,
    )
    app = build_app(msgspec.structs.replace(settings, database=database))
    async with AsyncTestClient[Litestar](app=app, base_url=base_url) as client:
        write = await client.put(f"/customers/{unique_email('sec')}", json={"name": "S"})
    assert write.status_code == 201, write.text
    cookie = write.headers["set-cookie"]
    assert cookie.startswith("switchyard_lsn=")
    assert ("; Secure" in cookie) is secure
