"""Where the environment comes from: the process environment over a local `.env`, with any
`<NAME>_FILE` variable replaced by the contents of the file it names.

`<NAME>_FILE` is the Docker / Kubernetes secrets convention (`DATABASE_URL_FILE=/run/secrets/db`):
the secret stays out of `docker inspect`, `ps e` and the process environment of children.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

FILE_SUFFIX = "_FILE"
# The twelve-factor names beside the generic SWITCHYARD_<SECTION>__<KEY> ones.
PLAIN_NAMES = frozenset(
    {"DATABASE_URL", "DATABASE_REPLICA_URLS", "DATABASE_MIGRATION_URL", "DATABASE_MODE"}
)


class SecretFileError(ValueError):
    """A `<NAME>_FILE` that cannot be used; the message names the variable, never the value."""


def process_environment(dotenv: Path | str = ".env") -> dict[str, str]:
    """`os.environ` over the `.env` file in the working directory (for local development):
    a variable that is really set always wins over the file."""
    local = {k: v for k, v in dotenv_values(dotenv).items() if v is not None}
    return {**local, **os.environ}


def _takes_file(name: str) -> bool:
    return name in PLAIN_NAMES or (name.startswith("SWITCHYARD_") and "__" in name)


def resolve_secret_files(env: Mapping[str, str]) -> dict[str, str]:
    """Replace each `<NAME>_FILE` by `<NAME>` holding the file's text (trailing newline
    dropped: `echo` and most editors add one)."""
    resolved = dict(env)
    for file_var, path in env.items():
        name = file_var.removesuffix(FILE_SUFFIX)
        if name == file_var or not _takes_file(name):
            continue
        if name in env:
            raise SecretFileError(f"{file_var} and {name} are both set; give only one of them")
        try:
            resolved[name] = Path(path).read_text().rstrip("\r\n")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise SecretFileError(f"{file_var}: cannot read {path!r}: {reason}") from None
        except UnicodeDecodeError:
            raise SecretFileError(f"{file_var}: {path!r} is not UTF-8 text") from None
        del resolved[file_var]
    return resolved
