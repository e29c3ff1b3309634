"""Apply the Alembic migrations over the direct primary URL."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config

from service.settings import Settings

# The top-level migrations/ folder, installed as this package (pyproject.toml's package-dir).
PACKAGE = "service.migrations"


def migrations_dir() -> Path:
    """Where env.py and versions/ are: inside the installed distribution (a wheel, or an
    editable install mapping the package to the source folder); in a checkout run without
    any install, the source folder itself."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    source = Path(__file__).resolve().parent.parent / "migrations"
    if (source / "env.py").is_file():
        return source
    raise FileNotFoundError(f"no {PACKAGE} package and no {source}: is switchyard installed?")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser treats '%' as interpolation; URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings.database.effective_migration_url), revision)
