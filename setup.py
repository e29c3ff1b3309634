"""The one packaging rule pyproject.toml cannot say: found packages plus a mapped folder.

Every package under service/ is found, and the top-level migrations/ folder (kept there for
`alembic` run by hand with alembic.ini) ships inside the wheel as `service.migrations`, so
`switchyard migrate` needs nothing but the installed distribution. The project's metadata is
in pyproject.toml.
"""

from setuptools import find_packages, setup

MIGRATIONS = "service.migrations"

setup(
    packages=[
        *find_packages(include=["service", "service.*"]),
        MIGRATIONS,
        *(f"{MIGRATIONS}.{name}" for name in find_packages(where="migrations")),
    ],
    package_dir={MIGRATIONS: "migrations"},
    package_data={"service.migrations": ["script.py.mako"]},
)
