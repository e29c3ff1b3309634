"""The layout's arrows, read from the source: a forbidden import fails here, not in review.

- the API and analytics use only `service.db`'s public names (its `__all__`);
- the routing core never imports the API, analytics, the app or the CLI;
- settings import nothing of the service but the leaves `service.urls` and `service.envfiles`
  (where the environment comes from), which import nothing of it;
- nothing the running app loads imports the failure lab (`service.cluster`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import service.db

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[tuple[str, str | None]]:
    """(module, name) for each `import module` and `from module import name`."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.module, alias.name


def sources(package: str) -> list[Path]:
    folder = SERVICE / package.removeprefix("service").strip(".").replace(".", "/")
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]


def violations(package: str, allowed: object) -> list[str]:
    found = []
    for path in sources(package):
        for module, name in imports(path):
            if module.startswith("service") and not allowed(module, name):  # type: ignore[operator]
                found.append(f"{module_name(path)} imports {module}{'.' + name if name else ''}")
    return found


def test_api_and_analytics_use_only_the_cores_public_names() -> None:
    public = set(service.db.__all__)

    def allowed(module: str, name: str | None) -> bool:
        if module == "service.db":
            return name in public
        return not module.startswith("service.db.")

    assert violations("service.api", allowed) == []
    assert violations("service.analytics", allowed) == []


def test_the_core_never_imports_what_is_built_on_it() -> None:
    above = ("service.api", "service.analytics", "service.app", "service.cli", "service.cluster")

    def allowed(module: str, name: str | None) -> bool:
        return not module.startswith(above)

    assert violations("service.db", allowed) == []


def test_settings_import_nothing_of_the_service_but_urls_and_envfiles() -> None:
    leaves = ("service.urls", "service.envfiles")
    assert violations("service.settings", lambda module, name: module in leaves) == []
    for leaf in leaves:
        assert violations(leaf, lambda module, name: False) == []


def test_the_running_app_never_loads_the_lab() -> None:
    seen: set[str] = set()
    pending = ["service.app"]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        path = ROOT / (current.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / current.replace(".", "/") / "__init__.py"
        if not path.exists():
            continue  # a name imported from a package, not a module
        for module, name in imports(path):
            if module.startswith("service"):
                pending.append(module)
                if name:
                    pending.append(f"{module}.{name}")
    assert not [m for m in seen if m.startswith("service.cluster")]
    assert "service.db.router" in seen  # the walk really followed the app's imports
