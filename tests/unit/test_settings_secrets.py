"""`[auth]`, secrets given as files (`<NAME>_FILE`) and the local `.env`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from service.auth import TokenTable, token_digest
from service.envfiles import process_environment
from service.settings import Settings, SettingsError, load_settings

DIGEST = token_digest("sy_example")
TOKENS = [{"name": "ci", "sha256": DIGEST, "scopes": ["read", "write"]}]


def test_auth_defaults_to_local_without_tokens() -> None:
    auth = load_settings({}).auth
    assert (auth.mode, auth.tokens) == ("local", ())


def test_tokens_from_the_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[auth]\nmode = "tokens"\n[[auth.tokens]]\nname = "ci"\nsha256 = "{DIGEST}"\n'
        'scopes = ["read"]\n'
    )
    auth = load_settings({}, config).auth
    assert auth.mode == "tokens"
    assert [(t.name, t.sha256, t.scopes) for t in auth.tokens] == [("ci", DIGEST, ("read",))]


def test_tokens_from_a_json_variable_or_a_file_of_it(tmp_path: Path) -> None:
    inline = load_settings(
        {"SWITCHYARD_AUTH__MODE": "tokens", "SWITCHYARD_AUTH__TOKENS": json.dumps(TOKENS)}
    ).auth
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(TOKENS) + "\n")
    from_file = load_settings(
        {"SWITCHYARD_AUTH__MODE": "tokens", "SWITCHYARD_AUTH__TOKENS_FILE": str(path)}
    ).auth
    assert inline == from_file
    assert inline.tokens[0].scopes == ("read", "write")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SWITCHYARD_AUTH__MODE": "tokens"}, "no token is configured"),
        ({"SWITCHYARD_AUTH__MODE": "open"}, "auth.mode"),
        ({"SWITCHYARD_AUTH__TOKENS": f"[{{'sha256': '{DIGEST}'"}, "SWITCHYARD_AUTH__TOKENS"),
        (
            {"SWITCHYARD_AUTH__TOKENS": json.dumps([{**TOKENS[0], "scopes": ["root"]}])},
            "auth.tokens[0].scopes",
        ),
        (
            {"SWITCHYARD_AUTH__TOKENS": json.dumps([{**TOKENS[0], "sha256": "abc"}])},
            "auth.tokens[0].sha256",
        ),
        (
            {"SWITCHYARD_AUTH__TOKENS": json.dumps([TOKENS[0], {**TOKENS[0], "name": "x"}])},
            "same sha256",
        ),
    ],
)
def test_bad_auth_settings_name_the_key_and_never_the_digest(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(env)
    assert message in str(raised.value)
    assert DIGEST not in str(raised.value)


def test_settings_repr_hides_digests() -> None:
    settings = load_settings({"SWITCHYARD_AUTH__TOKENS": json.dumps(TOKENS)})
    assert "ci" in repr(settings)
    assert DIGEST not in repr(settings)


def test_configured_tokens_are_what_the_app_checks() -> None:
    auth = load_settings({"SWITCHYARD_AUTH__TOKENS": json.dumps(TOKENS)}).auth
    table = TokenTable((t.name, t.sha256, t.scopes) for t in auth.tokens)
    identity = table.identify("sy_example")
    assert identity is not None
    assert identity.scopes == {"read", "write"}


# ---- <NAME>_FILE -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "read_back"),
    [
        ("DATABASE_URL", "postgresql://u:pw@h/db", lambda s: s.database.primary.url),
        ("DATABASE_MIGRATION_URL", "postgresql://m:pw@h/db", lambda s: s.database.migration_url),
        (
            "DATABASE_REPLICA_URLS",
            "r1=postgresql://u:pw@h2/db",
            lambda s: [r.url for r in s.database.replicas],
        ),
        ("SWITCHYARD_DATABASE__STICKY_SECRET", "s" * 20, lambda s: s.database.sticky_secret),
    ],
)
def test_every_secret_can_be_given_as_a_file(
    tmp_path: Path, variable: str, value: str, read_back: Callable[[Settings], object]
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(value + "\n")  # the newline `echo` adds is not part of the secret
    from_file = load_settings({f"{variable}_FILE": str(secret)})
    direct = load_settings({variable: value})
    assert read_back(from_file) == read_back(direct)
    assert read_back(from_file) != read_back(load_settings({}))


def test_a_missing_secret_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"DATABASE_URL_FILE": str(tmp_path / "nope")})
    assert "DATABASE_URL_FILE" in str(raised.value)
    assert "No such file" in str(raised.value)


def test_a_secret_and_its_file_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("postgresql://u:pw@h/db")
    with pytest.raises(SettingsError, match="DATABASE_URL_FILE and DATABASE_URL"):
        load_settings({"DATABASE_URL": "postgresql://a/db", "DATABASE_URL_FILE": str(secret)})


def test_a_bad_url_from_a_file_is_reported_without_its_password(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("mysql://u:hunter2@h/db")
    with pytest.raises(SettingsError) as raised:
        load_settings({"DATABASE_URL_FILE": str(secret)})
    assert "hunter2" not in str(raised.value)


def test_unrelated_file_variables_are_left_alone() -> None:
    assert load_settings({"HISTFILE_FILE": "/nope", "SWITCHYARD_CONFIG_FILE": "/nope"})


# ---- .env --------------------------------------------------------------------------------


def test_dotenv_fills_in_but_never_overrides_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# local development\n"
        "DATABASE_URL=postgresql://from-dotenv/db\n"
        "export SWITCHYARD_SERVER__PORT=9100\n"
    )
    monkeypatch.setenv("DATABASE_URL", "postgresql://from-environment/db")
    monkeypatch.delenv("SWITCHYARD_SERVER__PORT", raising=False)
    env = process_environment(dotenv)
    assert env["DATABASE_URL"] == "postgresql://from-environment/db"
    assert env["SWITCHYARD_SERVER__PORT"] == "9100"
    assert "DATABASE_URL" in os.environ  # nothing was written back into the process


def test_load_settings_reads_dotenv_in_the_working_directory(tmp_path: Path) -> None:
    """In a child process: the real entry point, with a clean environment and cwd."""
    (tmp_path / ".env").write_text("SWITCHYARD_SERVER__PORT=9100\nDATABASE_URL=postgresql://d/db\n")
    code = "from service.settings import load_settings as l; s = l(); print(s.server.port)"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path.cwd())}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip() == "9100", done.stderr
    env["SWITCHYARD_SERVER__PORT"] = "9200"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip() == "9200", done.stderr


def test_dotenv_is_git_ignored() -> None:
    root = Path(__file__).resolve().parents[2]
    assert ".env" in (root / ".gitignore").read_text().splitlines()


# ---- `switchyard token new` and `switchyard run` in local mode ----------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_token_new_prints_a_token_once_and_the_toml_of_its_digest(tmp_path: Path) -> None:
    done = _cli("token", "new", "--scopes", "write,read", "--name", "ci")
    assert done.returncode == 0, done.stderr
    token = next(line for line in done.stdout.splitlines() if line.startswith("sy_"))
    assert done.stdout.count(token) == 1
    toml = done.stdout[done.stdout.index("[[auth.tokens]]") :]
    config = tmp_path / "c.toml"
    config.write_text('[auth]\nmode = "tokens"\n' + toml)
    (entry,) = load_settings({}, config).auth.tokens
    expected = ("ci", token_digest(token), ("read", "write"))
    assert (entry.name, entry.sha256, entry.scopes) == expected
    assert tomllib.loads(toml)["auth"]["tokens"][0]["sha256"] == token_digest(token)


@pytest.mark.parametrize("scopes", ["read,root", ",", ""])
def test_token_new_refuses_unknown_scopes(scopes: str) -> None:
    done = _cli("token", "new", "--scopes", scopes)
    assert done.returncode == 2
    assert "--scopes" in done.stderr
    assert "sy_" not in done.stdout


def test_run_on_every_interface_in_local_mode_refuses_naming_auth_mode() -> None:
    done = _cli("run", "--host", "0.0.0.0", "--port", "1", env={"SWITCHYARD_AUTH__MODE": "local"})
    assert done.returncode == 2
    assert "auth.mode" in done.stderr
    assert "0.0.0.0" in done.stderr
