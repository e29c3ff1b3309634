import tomllib
from pathlib import Path

import msgspec
import pytest

from service.settings import Settings, SettingsError, load_settings, parse_replica_urls

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_need_no_file_and_no_environment() -> None:
    assert load_settings({}) == Settings()


def test_default_toml_lists_every_key_with_its_built_in_default() -> None:
    path = ROOT / "config" / "default.toml"
    assert load_settings({}, path) == Settings()
    missing = _missing_keys(Settings(), tomllib.loads(path.read_text()), "")
    # Inherited from the database-wide keys, or an empty list: the file shows them in comments.
    assert missing == [
        "database.primary.mode",
        "database.primary.pool",
        "database.replicas",
        "auth.tokens",
    ]


def _missing_keys(struct: msgspec.Struct, table: dict[str, object], prefix: str) -> list[str]:
    missing = []
    for name in struct.__struct_fields__:
        value = getattr(struct, name)
        if name not in table:
            missing.append(prefix + name)
        elif isinstance(value, msgspec.Struct):
            inner = table[name]
            assert isinstance(inner, dict)
            missing += _missing_keys(value, inner, f"{prefix}{name}.")
    return missing


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db?ssl=require", "postgresql+asyncpg://u@h/db?ssl=require"),
    ],
)
def test_urls_are_normalised_to_asyncpg(given: str, expected: str) -> None:
    settings = load_settings({"DATABASE_URL": given})
    assert settings.database.primary.url == expected


def test_environment_overrides_file_and_generic_keys(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[database]\nread_statement_timeout = 3.0\n[database.primary]\nurl = "postgresql://a/db"\n'
    )
    settings = load_settings(
        {
            "SWITCHYARD_CONFIG": str(config),
            "DATABASE_URL": "postgresql://b/db",
            "SWITCHYARD_DATABASE__POOL__POOL_SIZE": "7",
            "SWITCHYARD_SERVER__PORT": "9001",
        }
    )
    assert settings.database.primary.url == "postgresql+asyncpg://b/db"
    assert settings.database.read_statement_timeout == 3.0
    assert settings.database.primary.pool.pool_size == 7
    assert settings.server.port == 9001


def test_replica_urls_named_and_bare() -> None:
    parsed = parse_replica_urls("fast=postgresql://h1/db,postgresql://h2/db?options=a=b, ")
    assert parsed == [
        {"name": "fast", "url": "postgresql://h1/db"},
        {"name": "replica-2", "url": "postgresql://h2/db?options=a=b"},
    ]


def test_node_pool_overrides_database_pool(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        "[database.pool]\npool_size = 4\npool_timeout = 1.5\n"
        '[[database.replicas]]\nname = "r"\nurl = "postgresql://r/db"\nmode = "pgbouncer"\n'
        "[database.replicas.pool]\npool_size = 9\n"
        '[database]\nmigration_url = "postgresql://m/db"\n'
    )
    settings = load_settings({}, config)
    replica = settings.database.replicas[0]
    assert (replica.pool.pool_size, replica.pool.pool_timeout, replica.mode) == (
        9,
        1.5,
        "pgbouncer",
    )
    assert settings.database.primary.pool.pool_size == 4
    assert settings.database.primary.mode == "direct"


def test_database_mode_env_switches_every_node() -> None:
    settings = load_settings(
        {
            "DATABASE_MODE": "pgbouncer",
            "DATABASE_URL": "postgresql://pgb/primary",
            "DATABASE_REPLICA_URLS": "replica-1=postgresql://pgb/replica-1",
            "DATABASE_MIGRATION_URL": "postgresql://direct/db",
        }
    )
    assert {node.mode for node in settings.database.nodes} == {"pgbouncer"}


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"DATABASE_URL": "mysql://admin:hunter2@h/db"}, "database.primary.url"),
        ({"DATABASE_REPLICA_URLS": "r=http://admin:hunter2@h/db"}, "database.replicas[0].url"),
        ({"SWITCHYARD_DATABASE__POOL__POOL_SIZE": "lots"}, "database.pool.pool_size"),
        ({"SWITCHYARD_DATABASE__POOL__POOL_SIZE": "0"}, "database.pool.pool_size"),
        ({"DATABASE_MODE": "sideways"}, "database.mode"),
        (
            {"DATABASE_MODE": "pgbouncer", "DATABASE_URL": "postgresql://admin:hunter2@h/db"},
            "database.migration_url",
        ),
        ({"SWITCHYARD_DATABASE__NO_SUCH_KEY": "1"}, "no_such_key"),
    ],
)
def test_bad_value_names_the_key_and_hides_the_password(environ: dict[str, str], key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    message = str(caught.value)
    assert key in message
    assert "hunter2" not in message


def test_settings_repr_hides_passwords() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://admin:hunter2@h/db",
            "DATABASE_MIGRATION_URL": "postgresql://admin:hunter2@h/db",
        }
    )
    assert "hunter2" not in repr(settings)
    assert "admin:***@h" in repr(settings)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SWITCHYARD_CONFIG"):
        load_settings({"SWITCHYARD_CONFIG": str(tmp_path / "absent.toml")})


@pytest.mark.parametrize(
    "environ",
    [
        {"SWITCHYARD_DATABASE__REPLICAS__0__URL": "postgresql://admin:hunter2@h/db"},
        {"SWITCHYARD_SERVER__PORT__X": "1"},
    ],
)
def test_an_override_below_a_value_is_one_clear_error(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert "hunter2" not in str(caught.value)


def test_an_unparseable_url_shows_no_part_of_its_password() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"DATABASE_REPLICA_URLS": "postgresql://u:sec,ret@h1/db"})
    assert "sec" not in str(caught.value).replace("second", "")
