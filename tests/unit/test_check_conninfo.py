"""Reading whom a standby follows out of its primary_conninfo."""

from __future__ import annotations

from service.check.conninfo import parse_conninfo, upstream


def test_key_value_conninfo_as_pg_basebackup_writes_it() -> None:
    text = (
        "user=postgres passfile='/var/lib/postgresql/.pgpass' channel_binding=prefer "
        "host=127.0.0.1 port=46307 sslmode=prefer application_name=replica-1"
    )
    assert upstream(text) == ("127.0.0.1", 46307)
    assert parse_conninfo(text)["passfile"] == "/var/lib/postgresql/.pgpass"


def test_quotes_escapes_and_spaces_around_equals() -> None:
    fields = parse_conninfo(r"host = 'db one'  password='it\'s' port= 6000")
    assert fields == {"host": "db one", "password": "it's", "port": "6000"}


def test_hostaddr_wins_and_the_port_defaults_to_5432() -> None:
    assert upstream("host=db.example hostaddr=10.0.0.5") == ("10.0.0.5", 5432)
    assert upstream("application_name=x") == (None, 5432)


def test_uri_form() -> None:
    assert upstream("postgresql://rep@db.example:5544/postgres?sslmode=require") == (
        "db.example",
        5544,
    )
