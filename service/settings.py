"""Settings: a TOML file decoded into frozen msgspec Structs, then overridden by the environment.

Precedence, lowest first: built-in defaults, the TOML file named by ``SWITCHYARD_CONFIG``
(optional), generic ``SWITCHYARD_<SECTION>__<KEY>`` variables, then the twelve-factor names
``DATABASE_URL``, ``DATABASE_REPLICA_URLS``, ``DATABASE_MODE`` and ``DATABASE_MIGRATION_URL``.
Node settings are resolved here (a node's own ``mode`` and ``pool`` over the database-wide
ones), so the rest of the service reads one fully-resolved value per node.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from service.envfiles import SecretFileError, process_environment, resolve_secret_files
from service.urls import InvalidURLError, asyncpg_connect_args, normalise_url, redact_url

Mode = Literal["direct", "pgbouncer"]
AuthMode = Literal["local", "tokens", "off"]
# The same four as service.auth.scopes.SCOPES (a unit test holds them equal); not imported,
# so that loading settings pulls in no web framework.
ScopeName = Literal["read", "write", "analytics", "admin"]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
NodeName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_-]+$", max_length=63)]

_REPLICA_NAME = re.compile(r"^[a-z0-9_-]+$")
_ENV_PREFIX = "SWITCHYARD_"


class SettingsError(ValueError):
    """An invalid configuration; the message names the key and never holds a password."""


def _shown(name: str, value: object) -> str:
    if name.endswith("url") and isinstance(value, str) and value:
        return redact_url(value)
    if (name.endswith("secret") or name == "sha256") and value:
        return "'***'"
    return repr(value)


class _Base(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    def __repr__(self) -> str:
        # URLs can carry passwords, and reprs end up in logs and tracebacks.
        fields = ", ".join(
            f"{name}={_shown(name, value)}"
            for name in self.__struct_fields__
            for value in [getattr(self, name)]
        )
        return f"{type(self).__name__}({fields})"


class PoolSettings(_Base, frozen=True):
    pool_size: Annotated[int, msgspec.Meta(ge=1)] = 10
    # 0 by default: at high concurrency the QueuePool otherwise closes and reopens overflow
    # connections continuously (measured: ~1,000 new connections in 5 s at 32 clients).
    max_overflow: Annotated[int, msgspec.Meta(ge=0)] = 0
    pool_timeout: PositiveSeconds = 2.0
    pool_recycle: float = 1800.0
    pool_pre_ping: bool = False
    connect_timeout: PositiveSeconds = 2.0


DEFAULT_PRIMARY_URL = "postgresql+asyncpg://switchyard@127.0.0.1:5432/switchyard"


class NodeSettings(_Base, frozen=True):
    name: NodeName
    url: str
    mode: Mode = "direct"
    pool: PoolSettings = PoolSettings()


class DatabaseSettings(_Base, frozen=True):
    primary: NodeSettings = NodeSettings(name="primary", url=DEFAULT_PRIMARY_URL)
    replicas: tuple[NodeSettings, ...] = ()
    # Database-wide defaults; a node's own `mode` / `pool` table overrides them.
    mode: Mode = "direct"
    pool: PoolSettings = PoolSettings()
    # Under PgBouncer: "null" lets PgBouncer do all pooling; "queue" keeps a small client-side pool.
    pgbouncer_pool: Literal["null", "queue"] = "null"
    migration_url: str = ""
    read_statement_timeout: PositiveSeconds = 2.0
    write_statement_timeout: PositiveSeconds = 5.0
    # How long a read carrying X-DB-Min-LSN waits for a replica to replay it before the
    # primary serves it instead.
    min_lsn_wait: Annotated[float, msgspec.Meta(ge=0)] = 0.05
    # A token further ahead of the primary's last probed position than this is one no replica
    # can have replayed: the read goes straight to the primary, costing no replica connection.
    token_margin_bytes: Annotated[int, msgspec.Meta(ge=0)] = 64 * 1024 * 1024
    # Seconds after a write during which a client's reads (carrying the signed cookie) see
    # it without sending X-DB-Min-LSN; 0 turns the window off. Needs sticky_secret.
    sticky_window: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    sticky_secret: str = ""
    # Mark the cookie `Secure` always (behind a proxy that ends TLS); over HTTPS it is anyway.
    sticky_secure: bool = False
    fallback: Literal["primary", "error"] = "primary"
    load_balancing: Literal["round_robin", "least_connections"] = "round_robin"

    @property
    def nodes(self) -> tuple[NodeSettings, ...]:
        return (self.primary, *self.replicas)

    @property
    def effective_migration_url(self) -> str:
        return self.migration_url or self.primary.url


class HealthSettings(_Base, frozen=True):
    interval: PositiveSeconds = 1.0
    timeout: PositiveSeconds = 1.0
    ban_initial: PositiveSeconds = 1.0
    ban_max: PositiveSeconds = 5.0
    max_lag_bytes: Annotated[int, msgspec.Meta(ge=0)] = 16 * 1024 * 1024
    max_lag_seconds: PositiveSeconds = 5.0


class ServerSettings(_Base, frozen=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    workers: Annotated[int, msgspec.Meta(ge=1)] = 1
    # Run `switchyard check` once at start-up (in the background): its findings go to the log
    # and to /health/db. It never stops the service.
    startup_check: bool = True


class TokenSettings(_Base, frozen=True):
    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.@-]+$", max_length=100)]
    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{64}$")]  # never the token itself
    scopes: Annotated[tuple[ScopeName, ...], msgspec.Meta(min_length=1)]


class AuthSettings(_Base, frozen=True):
    # local: no tokens, loopback only; tokens: bearer tokens; off: no tokens anywhere (behind
    # a gateway that authenticates).
    mode: AuthMode = "local"
    tokens: tuple[TokenSettings, ...] = ()


class Settings(_Base, frozen=True):
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    health: HealthSettings = HealthSettings()
    auth: AuthSettings = AuthSettings()


def load_settings(
    environ: Mapping[str, str] | None = None, path: Path | str | None = None
) -> Settings:
    """Build the settings from an optional TOML file and the environment.

    With no `environ`, the process environment over `./.env`; either way `<NAME>_FILE`
    variables are read into `<NAME>`.
    """
    try:
        env = resolve_secret_files(process_environment() if environ is None else environ)
    except SecretFileError as exc:
        raise SettingsError(str(exc)) from None
    config_path = path or env.get("SWITCHYARD_CONFIG")
    raw: dict[str, Any] = _read_toml(Path(config_path)) if config_path else {}
    _apply_generic_overrides(raw, env)
    _decode_token_list(raw)
    _apply_database_overrides(raw, env)
    _resolve_nodes(raw)
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid configuration: {_dotted(str(exc))}") from None
    _check(settings)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsError(f"SWITCHYARD_CONFIG: file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"SWITCHYARD_CONFIG: {path} is not valid TOML: {exc}") from None


def _apply_generic_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """`SWITCHYARD_DATABASE__POOL__POOL_SIZE=5` sets `database.pool.pool_size`."""
    for name, value in env.items():
        if not name.startswith(_ENV_PREFIX) or "__" not in name:
            continue
        *parents, leaf = name[len(_ENV_PREFIX) :].lower().split("__")
        table = raw
        for part in parents:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                key = ".".join([*parents, leaf])
                raise SettingsError(f"{name}: {key} does not name a setting (not a table)")
        table[leaf] = value


def _decode_token_list(raw: dict[str, Any]) -> None:
    """`SWITCHYARD_AUTH__TOKENS` (or its `_FILE`) holds the `[[auth.tokens]]` list as JSON."""
    auth = raw.get("auth")
    if not isinstance(auth, dict) or not isinstance(auth.get("tokens"), str):
        return
    try:
        auth["tokens"] = json.loads(auth["tokens"])
    except ValueError:
        # The text may hold a digest: say where it is wrong, not what it says.
        raise SettingsError(
            "SWITCHYARD_AUTH__TOKENS: not valid JSON (expected a list of "
            '{"name": ..., "sha256": ..., "scopes": [...]})'
        ) from None


def _apply_database_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    database = raw.setdefault("database", {})
    if url := env.get("DATABASE_URL"):
        database.setdefault("primary", {})["url"] = url
    if (replica_urls := env.get("DATABASE_REPLICA_URLS")) is not None:
        database["replicas"] = parse_replica_urls(replica_urls)
    if mode := env.get("DATABASE_MODE"):
        database["mode"] = mode
        # The environment switch is for all nodes: it overrides per-node modes from the file.
        for node in [database.get("primary", {}), *database.get("replicas", [])]:
            node.pop("mode", None)
    if migration_url := env.get("DATABASE_MIGRATION_URL"):
        database["migration_url"] = migration_url


def parse_replica_urls(value: str) -> list[dict[str, Any]]:
    """Parse `DATABASE_REPLICA_URLS`: comma-separated entries, each `NAME=URL` or a bare URL.

    URLs may contain `=` (query strings), so an entry is named only when the text before its
    first `=` is a plain name.
    """
    replicas: list[dict[str, Any]] = []
    for index, entry in enumerate((e.strip() for e in value.split(",") if e.strip()), start=1):
        name, sep, url = entry.partition("=")
        if sep and _REPLICA_NAME.match(name):
            replicas.append({"name": name, "url": url})
        else:
            replicas.append({"name": f"replica-{index}", "url": entry})
    return replicas


def _resolve_nodes(raw: dict[str, Any]) -> None:
    database = raw.setdefault("database", {})
    if not isinstance(database, dict):
        return  # msgspec reports the wrong type, naming the key
    default_mode = database.get("mode", "direct")
    default_pool = database.get("pool", {})
    primary = database.setdefault("primary", {})
    primary.setdefault("name", "primary")
    primary.setdefault("url", DEFAULT_PRIMARY_URL)
    replicas = database.get("replicas", [])
    keyed = [("database.primary", primary)] + [
        (f"database.replicas[{i}]", node) for i, node in enumerate(replicas)
    ]
    for key, node in keyed:
        if not isinstance(node, dict):
            continue
        node.setdefault("mode", default_mode)
        if isinstance(default_pool, dict) and isinstance(node.get("pool", {}), dict):
            node["pool"] = {**default_pool, **node.get("pool", {})}
        if isinstance(node.get("url"), str):
            node["url"] = _normalised(f"{key}.url", node["url"])
    if isinstance(database.get("migration_url"), str) and database["migration_url"]:
        database["migration_url"] = _normalised("database.migration_url", database["migration_url"])


def _check(settings: Settings) -> Settings:
    database = settings.database
    names = [node.name for node in database.nodes]
    if len(set(names)) != len(names):
        raise SettingsError(f"database.replicas: node names must be unique, got {names}")
    if database.primary.name != "primary":
        raise SettingsError("database.primary.name: the primary is always named 'primary'")
    if database.sticky_window > 0 and len(database.sticky_secret) < 16:
        raise SettingsError(
            "database.sticky_secret: at least 16 characters are required when "
            "database.sticky_window is on (the same secret on every instance)"
        )
    if any(node.mode == "pgbouncer" for node in database.nodes) and not database.migration_url:
        raise SettingsError(
            "database.migration_url (DATABASE_MIGRATION_URL) is required in pgbouncer mode: "
            "migrations must reach the primary directly, not through PgBouncer"
        )
    _check_auth(settings.auth)
    return settings


def _check_auth(auth: AuthSettings) -> None:
    if auth.mode == "tokens" and not auth.tokens:
        raise SettingsError(
            "auth.tokens: auth.mode is 'tokens' but no token is configured; mint one with "
            "`switchyard token new --scopes read`"
        )
    names = [token.name for token in auth.tokens]
    if len(set(names)) != len(names):
        raise SettingsError(f"auth.tokens: token names must be unique, got {names}")
    digests = [token.sha256.lower() for token in auth.tokens]
    if len(set(digests)) != len(digests):
        raise SettingsError("auth.tokens: two tokens have the same sha256")


def _normalised(key: str, url: str) -> str:
    try:
        normalised = normalise_url(url)
        asyncpg_connect_args(normalised)  # a bad sslmode or CA file fails here, named
        return normalised
    except InvalidURLError as exc:
        raise SettingsError(f"{key}: {exc} (got {redact_url(url)})") from None


def _dotted(message: str) -> str:
    """msgspec says `... - at `$.database.pool.pool_size``; name the key the way the TOML does."""
    return re.sub(r"`\$\.([^`]*)`", r"`\1`", message)
