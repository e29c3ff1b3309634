"""The Alembic environment and revisions; installed as `service.migrations` (pyproject.toml)."""
