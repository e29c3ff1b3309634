"""The sticky cookie never moves backwards: a slower, older write's response keeps the newer
position the client's cookie already carries."""

from __future__ import annotations

import msgspec
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.db import format_lsn, parse_lsn
from service.db.sticky import COOKIE, StickyWindow
from service.settings import Settings
from tests.integration.helpers import unique_email

SECRET = "sticky-test-secret-0123456789"


def cookie_lsn(window: StickyWindow, set_cookie: str) -> int:
    value = set_cookie.split(";", 1)[0].split("=", 1)[1]
    lsn = window.lsn(value)
    assert lsn is not None
    return parse_lsn(lsn)


async def test_a_write_never_moves_the_cookie_behind_the_one_it_came_with(
    settings: Settings,
) -> None:
    database = msgspec.structs.replace(settings.database, sticky_window=30.0, sticky_secret=SECRET)
    window = StickyWindow(30.0, SECRET)
    app = create_app(msgspec.structs.replace(settings, database=database))
    async with AsyncTestClient(app=app) as client:
        first = await client.put(f"/customers/{unique_email('s')}", json={"name": "a"})
        written = parse_lsn(first.headers["x-db-lsn"])
        assert cookie_lsn(window, first.headers["set-cookie"]) == written
        # The client's cookie already holds a later write's position (another request of
        # its own finished first); this write's response must not take it back.
        later = written + 10_000_000
        client.cookies.set(COOKIE, window.cookie(format_lsn(later)).split(";")[0].split("=", 1)[1])
        second = await client.put(f"/customers/{unique_email('s')}", json={"name": "b"})
        assert parse_lsn(second.headers["x-db-lsn"]) < later
        assert cookie_lsn(window, second.headers["set-cookie"]) == later
