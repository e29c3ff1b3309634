"""One reading of a URL's TLS arguments for the pools, the probe and the migrations."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from service.cluster import tls
from service.settings import SettingsError, load_settings
from service.urls import InvalidURLError, asyncpg_connect_args

BASE = "postgresql+asyncpg://u:pw@127.0.0.1:5432/db"


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.crt"
    path.write_bytes(tls.cert_pem(tls.new_authority().cert))
    return path


def context(url: str) -> ssl.SSLContext:
    _, args = asyncpg_connect_args(url)
    assert isinstance(args["ssl"], ssl.SSLContext)
    return args["ssl"]


def test_a_url_without_tls_arguments_is_left_as_it_is() -> None:
    assert asyncpg_connect_args(BASE + "?application_name=x") == (
        BASE + "?application_name=x",
        {},
    )


def test_tls_arguments_leave_the_url_and_other_arguments_stay(ca_file: Path) -> None:
    clean, args = asyncpg_connect_args(
        f"{BASE}?sslmode=verify-full&sslrootcert={ca_file}&application_name=x"
    )
    assert clean == BASE + "?application_name=x"
    assert set(args) == {"ssl"}


def test_verify_full_checks_chain_and_host_name(ca_file: Path) -> None:
    ctx = context(f"{BASE}?sslmode=verify-full&sslrootcert={ca_file}")
    assert (ctx.verify_mode, ctx.check_hostname) == (ssl.CERT_REQUIRED, True)


def test_verify_ca_checks_the_chain_only(ca_file: Path) -> None:
    ctx = context(f"{BASE}?sslmode=verify-ca&sslrootcert={ca_file}")
    assert (ctx.verify_mode, ctx.check_hostname) == (ssl.CERT_REQUIRED, False)


def test_require_encrypts_without_checking_unless_given_a_ca(ca_file: Path) -> None:
    assert context(f"{BASE}?sslmode=require").verify_mode == ssl.CERT_NONE
    # libpq: require with a root certificate behaves like verify-ca.
    assert context(f"{BASE}?sslmode=require&sslrootcert={ca_file}").verify_mode == (
        ssl.CERT_REQUIRED
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sslmode=disable", False),
        ("ssl=false", False),
        ("sslmode=prefer", "prefer"),
        ("sslmode=allow", "allow"),
    ],
)
def test_modes_that_verify_nothing_go_to_asyncpg_as_they_are(query: str, expected: object) -> None:
    assert asyncpg_connect_args(f"{BASE}?{query}")[1] == {"ssl": expected}


def test_asyncpgs_ssl_argument_means_the_same_as_sslmode(ca_file: Path) -> None:
    a = context(f"{BASE}?ssl=verify-full&sslrootcert={ca_file}")
    b = context(f"{BASE}?sslmode=verify-full&sslrootcert={ca_file}")
    assert a is b  # one context per distinct setting, shared by pools and probes
    assert context(f"{BASE}?ssl=true").verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sslmode=verify", "sslmode='verify'"),
        ("ssl=maybe", "ssl='maybe'"),
        ("sslmode=require&ssl=disable", "disagree"),
        ("sslmode=verify-full&sslrootcert=/nonexistent/ca.crt", "/nonexistent/ca.crt"),
    ],
)
def test_what_cannot_work_is_refused_without_the_password(query: str, message: str) -> None:
    with pytest.raises(InvalidURLError) as raised:
        asyncpg_connect_args(f"{BASE}?{query}")
    assert message in str(raised.value)
    assert "pw" not in str(raised.value)


def test_settings_refuse_a_missing_ca_at_start_up_naming_the_key() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(
            {"DATABASE_REPLICA_URLS": f"r1={BASE}?sslmode=verify-full&sslrootcert=/no/ca.crt"}
        )
    assert "database.replicas[0].url" in str(raised.value)
    assert ":pw@" not in str(raised.value)


def test_settings_accept_a_verified_url(ca_file: Path) -> None:
    url = f"postgresql://u@h/db?sslmode=verify-full&sslrootcert={ca_file}"
    stored = load_settings({"DATABASE_URL": url}).database.primary.url  # now percent-encoded
    assert context(stored) is context(f"{BASE}?sslmode=verify-full&sslrootcert={ca_file}")
