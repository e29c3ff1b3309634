"""What `cluster up --tls` writes: certificates a verify-full client accepts, the node and
PgBouncer settings, and URLs that ask for verification."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from service.cluster import config, tls
from service.cluster.state import ClusterState, NodeRecord, load_state, save_state


def test_a_node_certificate_names_loopback_and_chains_to_the_ca(tmp_path: Path) -> None:
    ca = tls.load_or_create_authority(tmp_path / "tls")
    again = tls.load_or_create_authority(tmp_path / "tls")
    assert again.cert == ca.cert  # kept, so clients keep trusting it
    tls.write_server_pair(ca, "replica-1", tmp_path / "s.crt", tmp_path / "s.key")
    cert = x509.load_pem_x509_certificate((tmp_path / "s.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert (tmp_path / "s.key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "tls" / "ca.key").stat().st_mode & 0o077 == 0
    cert.verify_directly_issued_by(ca.cert)  # a real handshake: tests/integration/tls
    with pytest.raises((ValueError, InvalidSignature)):  # the opposite: another CA's
        cert.verify_directly_issued_by(tls.new_authority("other").cert)


def test_node_and_pgbouncer_settings_turn_tls_on_only_when_asked(tmp_path: Path) -> None:
    assert "ssl = on" not in config.node_conf(5432, tmp_path, replica=False)
    conf = config.node_conf(5432, tmp_path, replica=False, tls=True)
    assert "ssl = on" in conf
    assert f"ssl_key_file = '{config.SERVER_KEY}'" in conf
    args = (6432, {"primary": 5432}, tmp_path, tmp_path / "u", tmp_path / "l", tmp_path / "p")
    assert "tls" not in config.pgbouncer_ini(*args)
    ini = config.pgbouncer_ini(*args, tls=(tmp_path / "ca", tmp_path / "c", tmp_path / "k"))
    assert "client_tls_sslmode = require" in ini
    assert "server_tls_sslmode = verify-full" in ini
    assert f"server_tls_ca_file = {tmp_path / 'ca'}" in ini


def test_service_urls_verify_fully_with_the_labs_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    for mode in ("direct", "pgbouncer"):
        env = config.service_env(["replica-1"], 5432, {"replica-1": 5433}, 6432, mode, ca)
        for name in ("DATABASE_URL", "DATABASE_REPLICA_URLS", "DATABASE_MIGRATION_URL"):
            assert env[name].endswith(f"?sslmode=verify-full&sslrootcert={ca}"), env[name]
    plain = config.service_env(["replica-1"], 5432, {"replica-1": 5433}, 6432, "direct")
    assert "sslmode" not in "".join(plain.values())


def test_the_state_file_remembers_tls(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(path, ClusterState([NodeRecord("primary", "primary", 5432)], 6432, tls=True))
    loaded = load_state(path)
    assert loaded is not None
    assert loaded.tls is True
    path.write_text(path.read_text().replace('"tls": true', '"tls_unused": 1'))
    old = load_state(path)  # a folder from before TLS existed
    assert old is not None
    assert old.tls is False
