"""compose.yaml agrees with the settings contract, the Dockerfile and the PgBouncer config.

Nothing here runs Docker: the file is parsed, `${...}` is substituted the way Compose does,
and the service's environment goes through `load_settings` as the container would.
"""

from __future__ import annotations

import configparser
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from service.cluster import config
from service.settings import load_settings, parse_replica_urls

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
PGBOUNCER_INI = ROOT / "config" / "pgbouncer" / "pgbouncer.ini"
SUPPLIED = {"POSTGRES_PASSWORD": "compose-test-secret"}
SERVICES = {"primary", "replica", "pgbouncer", "migrate", "service"}

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(ValueError):
    pass


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's substitution: $$, ${VAR}, ${VAR:-default}, ${VAR:?message}."""

    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        value = env.get(name, "")
        if value:
            return value
        if match["op"] == ":-":
            return str(match["arg"])
        if match["op"] == ":?":
            raise MissingVariable(f"{name}: {match['arg']}")
        return ""

    return _VARIABLE.sub(one, text)


def _resolved(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_resolved(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _resolved(value, env) for key, value in node.items()}
    return node


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    resolved = _resolved(raw, SUPPLIED)
    assert isinstance(resolved, dict)
    return resolved


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping, so names are easy to check"
    return {str(k): str(v) for k, v in env.items()}


def _settings_env_names() -> set[str]:
    """The DATABASE_* names service/settings.py reads, taken from its source text."""
    source = (ROOT / "service" / "settings.py").read_text()
    return set(re.findall(r"""env\.get\(["'](DATABASE_[A-Z_]+)["']""", source))


def _pgbouncer(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return parser


# ---- the file as a whole ---------------------------------------------------------------
def test_the_settings_contract_is_found_in_the_code() -> None:
    # Guards the derivation below: an empty or partial set would make the checks vacuous.
    assert _settings_env_names() == {
        "DATABASE_URL",
        "DATABASE_REPLICA_URLS",
        "DATABASE_MODE",
        "DATABASE_MIGRATION_URL",
    }


def test_compose_has_exactly_the_expected_services(services: dict[str, Any]) -> None:
    assert set(services) == SERVICES


def test_the_password_must_be_supplied(raw: dict[str, Any]) -> None:
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD"):
        _resolved(raw, {})


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "x"}
    assert interpolate("a$$b ${SET} ${UNSET:-d} ${SET:-d} $SET", env) == "a$b x d x x"
    with pytest.raises(MissingVariable, match="UNSET: say why"):
        interpolate("${UNSET:?say why}", env)


def test_only_loopback_ports_are_published(services: dict[str, Any]) -> None:
    published = {name: s.get("ports", []) for name, s in services.items() if s.get("ports")}
    assert published == {"service": ["127.0.0.1:8000:8000"]}


def _dockerfile() -> list[str]:
    return (ROOT / "Dockerfile").read_text().splitlines()


def test_the_published_port_is_the_one_the_image_serves_on() -> None:
    cmd = json.loads(next(line for line in _dockerfile() if line.startswith("CMD "))[4:])
    assert cmd == ["switchyard", "run", "--host", "0.0.0.0", "--port", "8000"]


def test_the_published_port_can_move_but_stays_on_loopback(raw: dict[str, Any]) -> None:
    moved = _resolved(raw, {**SUPPLIED, "SWITCHYARD_PORT": "18000"})
    assert moved["services"]["service"]["ports"] == ["127.0.0.1:18000:8000"]


def test_the_image_is_built_in_two_stages_from_a_wheel_and_runs_as_a_user() -> None:
    lines = _dockerfile()
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms == ["FROM python:3.11-slim AS build", "FROM python:3.11-slim"]
    final = lines[lines.index(froms[1]) :]
    text = "\n".join(lines)
    assert "pip wheel --no-deps --wheel-dir /wheels ." in text
    assert "pip install /wheels/switchyard-*.whl" in text
    # The final stage takes the venv only: no source tree, no PYTHONPATH into one.
    copies = [line for line in final if line.startswith("COPY")]
    assert copies == ["COPY --from=build /opt/switchyard /opt/switchyard"]
    assert "PYTHONPATH" not in text
    user = [line for line in final if line.startswith("USER ")]
    assert user == ["USER switchyard"]
    assert any(line.startswith("HEALTHCHECK ") for line in final)


def test_the_build_ca_is_a_secret_mount_never_a_copied_file() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "RUN --mount=type=secret,id=ca-bundle" in text
    assert "/run/secrets/ca-bundle" in text
    assert ".crt" not in text


def test_the_python_services_stop_at_once_and_say_auth_off(services: dict[str, Any]) -> None:
    for name in ("service", "migrate"):
        assert services[name].get("init") is True, name
    # DESIGN.md, Security: published on loopback only, with the auth mode stated.
    assert _env(services["service"])["SWITCHYARD_AUTH__MODE"] == "off"


# ---- the service's environment against the settings contract ----------------------------
@pytest.mark.parametrize("name", ["service", "migrate"])
def test_every_database_variable_is_one_the_settings_read(
    services: dict[str, Any], name: str
) -> None:
    used = {key for key in _env(services[name]) if key.startswith("DATABASE_")}
    assert used == _settings_env_names()


def test_the_service_environment_loads(services: dict[str, Any]) -> None:
    settings = load_settings(environ=_env(services["service"]))
    database = settings.database
    assert database.mode == "pgbouncer"
    assert [node.name for node in database.replicas] == ["replica-1"]
    assert urlsplit(database.migration_url).hostname == "primary"


def test_under_pgbouncer_reads_and_writes_go_through_pgbouncer(
    services: dict[str, Any],
) -> None:
    env = _env(services["service"])
    assert env["DATABASE_MODE"] == "pgbouncer"
    primary = urlsplit(env["DATABASE_URL"])
    assert (primary.hostname, primary.port, primary.path) == ("pgbouncer", 6432, "/primary")
    for replica in parse_replica_urls(env["DATABASE_REPLICA_URLS"]):
        url = urlsplit(replica["url"])
        assert (url.hostname, url.port) == ("pgbouncer", 6432)
        # PgBouncer's database for a node is named like the node.
        assert url.path == f"/{replica['name']}"


def test_replica_entries_are_named(services: dict[str, Any]) -> None:
    entries = _env(services["service"])["DATABASE_REPLICA_URLS"].split(",")
    assert entries
    for entry in entries:
        assert re.match(r"^[a-z0-9_-]+=postgres(ql)?://", entry), entry


@pytest.mark.parametrize("name", ["service", "migrate"])
def test_migrations_reach_the_primary_directly(services: dict[str, Any], name: str) -> None:
    url = urlsplit(_env(services[name])["DATABASE_MIGRATION_URL"])
    assert (url.hostname, url.port) == ("primary", 5432)
    assert url.path == f"/{services['primary']['environment']['POSTGRES_DB']}"
    assert url.username == services["primary"]["environment"]["POSTGRES_USER"]
    assert url.password == SUPPLIED["POSTGRES_PASSWORD"]


def test_migrate_is_a_one_shot_switchyard_migrate(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["switchyard", "migrate"]
    assert migrate.get("restart", "no") == "no"
    assert migrate["build"] == services["service"]["build"]


# ---- start order ----------------------------------------------------------------------------
EXPECTED_DEPENDENCIES = {
    "replica": {"primary": "service_healthy"},
    "pgbouncer": {"primary": "service_healthy"},
    "migrate": {"primary": "service_healthy"},
    "service": {
        "migrate": "service_completed_successfully",
        "pgbouncer": "service_healthy",
        "replica": "service_healthy",
    },
}


def test_everything_waits_for_what_it_needs(services: dict[str, Any]) -> None:
    found = {
        name: {dep: spec["condition"] for dep, spec in s["depends_on"].items()}
        for name, s in services.items()
        if "depends_on" in s
    }
    assert found == EXPECTED_DEPENDENCIES


def test_whatever_is_waited_on_for_health_has_a_healthcheck(services: dict[str, Any]) -> None:
    awaited = {
        dep
        for deps in EXPECTED_DEPENDENCIES.values()
        for dep, condition in deps.items()
        if condition == "service_healthy"
    }
    for name in awaited:
        test = services[name]["healthcheck"]["test"]
        assert "pg_isready" in " ".join(test), name
        assert "127.0.0.1" in " ".join(test), f"{name}: over TCP, not the init-time socket"


def test_the_replica_streams_from_the_primary(
    services: dict[str, Any], compose: dict[str, Any]
) -> None:
    replica = services["replica"]
    script = "\n".join(replica["command"])
    assert re.search(r"pg_basebackup -d \"host=primary .*-R -X stream -c fast", script, re.S)
    assert "hot_standby=on" in script
    assert replica["user"] == "postgres"
    assert "pg_is_in_recovery()" in " ".join(replica["healthcheck"]["test"])
    primary_flags = services["primary"]["command"]
    assert "wal_level=replica" in primary_flags
    # `all` in pg_hba.conf does not cover replication connections: the primary's init adds it.
    init = services["primary"]["configs"][0]
    assert init["target"].startswith("/docker-entrypoint-initdb.d/")
    assert "host replication all all" in compose["configs"][init["source"]]["content"]


# ---- PgBouncer --------------------------------------------------------------------------
def test_pgbouncer_mounts_the_repository_ini(services: dict[str, Any]) -> None:
    volumes = services["pgbouncer"]["volumes"]
    assert "./config/pgbouncer/pgbouncer.ini:/etc/pgbouncer/pgbouncer.ini:ro" in volumes
    assert PGBOUNCER_INI.is_file()


def test_pgbouncer_has_a_database_per_node_named_like_it(services: dict[str, Any]) -> None:
    parser = _pgbouncer(PGBOUNCER_INI.read_text())
    databases = dict(parser["databases"])
    assert set(databases) == {"primary", "replica-1"}
    assert "host=primary " in databases["primary"]
    assert "host=replica " in databases["replica-1"]
    db = services["primary"]["environment"]["POSTGRES_DB"]
    assert all(f"dbname={db}" in target for target in databases.values())
    # The port the service's URLs use is the one PgBouncer listens on.
    assert parser["pgbouncer"]["listen_port"] == "6432"


def test_pgbouncer_tuning_matches_the_local_lab() -> None:
    local_text = config.pgbouncer_ini(
        6432, {"primary": 5432}, Path("/run"), Path("/u"), Path("/l"), Path("/p")
    )
    local = dict(_pgbouncer(local_text)["pgbouncer"])
    ours = dict(_pgbouncer(PGBOUNCER_INI.read_text())["pgbouncer"])
    keys = [line.split(" = ")[0] for line in config.PGBOUNCER_POOLING]
    assert {k: ours.get(k) for k in keys} == {k: local[k] for k in keys}
    assert ours["pool_mode"] == "transaction"
    assert int(ours["max_client_conn"]) >= 2000


def test_pgbouncer_logs_in_as_the_app_user(services: dict[str, Any]) -> None:
    env = _env(services["pgbouncer"])
    ini = _pgbouncer(PGBOUNCER_INI.read_text())["pgbouncer"]
    assert env["DB_USER"] == services["primary"]["environment"]["POSTGRES_USER"]
    assert env["DB_PASSWORD"] == SUPPLIED["POSTGRES_PASSWORD"]
    assert env["AUTH_TYPE"] == ini["auth_type"]


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", ".cluster", "bench/results", ".mypy_cache", ".pytest_cache"):
        assert entry in ignored
