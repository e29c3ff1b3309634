"""The top-level migrations/ folder stays what alembic.ini and an editable install use.

That the wheel carries every package, the migrations included, is proven by installing it:
tests/packaging/test_wheel_install.py.
"""

from __future__ import annotations

from pathlib import Path

from service.migrate import migrations_dir

ROOT = Path(__file__).resolve().parents[2]


def test_alembic_ini_still_points_at_the_top_level_folder() -> None:
    assert "script_location = %(here)s/migrations" in (ROOT / "alembic.ini").read_text()


def test_switchyard_migrate_uses_the_top_level_folder_in_a_checkout() -> None:
    assert migrations_dir() == ROOT / "migrations"


def test_the_folder_is_a_package_so_the_wheel_can_carry_it() -> None:
    # Alembic skips __init__.py when it reads versions/ (its revision pattern excludes it).
    assert (ROOT / "migrations" / "__init__.py").is_file()
    assert (ROOT / "migrations" / "versions" / "__init__.py").is_file()
