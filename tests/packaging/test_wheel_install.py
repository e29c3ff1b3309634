"""The built wheel alone migrates a database: `switchyard migrate` from a fresh venv.

The wheel is built from a copy of only what the image's build copies (pyproject.toml,
service/, migrations/), installed into a new venv with its dependencies from the index, and
run from an empty folder with no PYTHONPATH, so nothing can come from this source tree. The
database is a real, empty primary from the local lab.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from alembic.script import ScriptDirectory

from service.cluster import LocalCluster
from service.migrate import alembic_config
from tests.fixtures.topology import scratch_cluster

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BUILD_INPUTS = ("pyproject.toml", "setup.py", "service", "migrations")
PIP_TIMEOUT = 600


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False
    )
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel (and its runtime dependencies) installed; its bin/."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    dist = work / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--no-deps", "--quiet", "-w", str(dist), str(source)], cwd=work)
    (wheel,) = dist.glob("switchyard-*.whl")
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    _run([str(env_dir / "bin" / "pip"), "install", "--quiet", str(wheel)], cwd=work)
    return env_dir / "bin"


@pytest.fixture(scope="module")
def empty_primary() -> Iterator[LocalCluster]:
    with scratch_cluster(replicas=0, prefix="switchyard-wheel-") as lab:
        yield lab


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DATABASE_"))}
    return {**env, **extra}


def test_the_installed_package_is_not_this_source_tree(installed: Path, tmp_path: Path) -> None:
    code = (
        "import service, service.migrate as m; print(service.__file__); print(m.migrations_dir())"
    )
    out = _run([str(installed / "python"), "-c", code], cwd=tmp_path, env=_clean_env({}))
    package, migrations = (Path(line) for line in out.split())
    site = installed.parent / "lib"
    assert package.is_relative_to(site), package
    assert migrations.is_relative_to(site), migrations
    assert (migrations / "env.py").is_file()
    assert (migrations / "script.py.mako").is_file()
    shipped = {p.name for p in (migrations / "versions").glob("*.py")}
    in_source = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert shipped == in_source
    # Every package of the source tree, found: a new one needs no packaging edit.
    assert _packages(package.parent) == _packages(ROOT / "service") | {
        f"migrations/{p}" if p else "migrations" for p in _packages(ROOT / "migrations")
    }


def _packages(folder: Path) -> set[str]:
    """Package folders under `folder`, relative to it ("" for itself)."""
    return {
        str(init.parent.relative_to(folder)).removeprefix(".")
        for init in folder.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


async def test_switchyard_migrate_from_the_wheel_creates_the_schema(
    installed: Path, empty_primary: LocalCluster, tmp_path: Path
) -> None:
    url = empty_primary.direct_url("primary")
    conn = await asyncpg.connect(url)
    try:
        # Empty to start with: otherwise the checks below would pass without the migration.
        assert await conn.fetchval("SELECT to_regclass('alembic_version')") is None
        env = _clean_env({"DATABASE_URL": url, "DATABASE_MIGRATION_URL": url})
        _run([str(installed / "switchyard"), "migrate"], cwd=tmp_path, env=env)

        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == head
        for table in ("customers", "orders"):
            assert await conn.fetchval("SELECT to_regclass($1)", table) is not None, table
    finally:
        await conn.close()
