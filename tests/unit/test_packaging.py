"""pyproject.toml lists every package the wheel must carry, the migrations included.

The package list is written out (find cannot map migrations/ into service/), so a new
subpackage left out of it would be missing from the wheel and the image without any error.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _setuptools() -> dict[str, Any]:
    loaded = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert isinstance(loaded, dict)
    return loaded


def _packages_under(folder: Path, prefix: str) -> set[str]:
    return {
        ".".join([prefix, *init.parent.relative_to(folder).parts])
        for init in folder.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def test_every_package_in_the_tree_is_listed() -> None:
    on_disk = _packages_under(ROOT / "service", "service") | _packages_under(
        ROOT / "migrations", "service.migrations"
    )
    assert "service.migrations.versions" in on_disk  # the walk itself found the mapping
    assert set(_setuptools()["packages"]) == on_disk


def test_the_migrations_map_to_the_top_level_folder() -> None:
    settings = _setuptools()
    assert settings["package-dir"] == {"service.migrations": "migrations"}
    assert settings["package-data"] == {"service.migrations": ["script.py.mako"]}
    assert (ROOT / "migrations" / "script.py.mako").is_file()


def test_alembic_ini_still_points_at_the_top_level_folder() -> None:
    assert "script_location = %(here)s/migrations" in (ROOT / "alembic.ini").read_text()
