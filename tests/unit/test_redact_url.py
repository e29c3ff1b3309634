"""redact_url: no password survives, wherever the URL carries it and however it is spelled."""

from __future__ import annotations

import pytest

from service.urls import redact_url

SECRET = "s3cr3t"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://app:s3cr3t@db:5432/app", "postgresql://app:***@db:5432/app"),
        # Unencoded `/`, `@` and `?` in the password: parsers split the URL there.
        ("postgresql://app:s3/cr3t@db/app", "postgresql://app:***@db/app"),
        ("postgresql://app:s3@cr3t@db/app", "postgresql://app:***@db/app"),
        ("postgresql://app:s3@c?r3t@db/app", "postgresql://app:***@db/app"),
        ("postgresql://app:s3cr3t/@@[::1]:5432/app", "postgresql://app:***@[::1]:5432/app"),
        # The password as a query parameter (libpq accepts it there), any case, any position.
        (
            "postgresql://app@db/app?password=s3cr3t&sslmode=require",
            "postgresql://app@db/app?password=***&sslmode=require",
        ),
        (
            "postgresql://app@db/app?sslmode=require&PassWord=s3cr3t",
            "postgresql://app@db/app?sslmode=require&PassWord=***",
        ),
        ("postgresql://app@db/app?sslpassword=s3cr3t", "postgresql://app@db/app?sslpassword=***"),
        # An `@` in a query value is not the end of the userinfo.
        (
            "postgresql://app:s3cr3t@db/app?application_name=a@b",
            "postgresql://app:***@db/app?application_name=a@b",
        ),
    ],
)
def test_password_is_hidden(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert SECRET not in redact_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app@db:5432/app?sslmode=require",
        "postgresql://db/app",
        "postgresql+asyncpg://app@h1:5432,h2:5433/app",
    ],
)
def test_url_without_password_is_unchanged(url: str) -> None:
    assert redact_url(url) == url


def test_text_that_is_no_url_is_hidden_whole() -> None:
    assert redact_url(f"host=db password={SECRET}") == "***"


def test_a_url_cut_inside_its_password_shows_nothing() -> None:
    # `postgresql://app:s3cr,et@db/app` split at its comma, as a list of URLs is.
    assert redact_url("postgresql://app:s3cr") == "postgresql://***"
