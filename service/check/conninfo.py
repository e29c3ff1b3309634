"""Read host and port out of a standby's primary_conninfo (libpq key=value or URI form)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

_DEFAULT_PORT = 5432


def parse_conninfo(text: str) -> dict[str, str]:
    """libpq's `key = value ...` with optional single quotes and backslash escapes."""
    if text.startswith(("postgresql://", "postgres://")):
        return _parse_uri(text)
    result: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        start = i
        while i < n and text[i] not in "= \t\n":
            i += 1
        key = text[start:i]
        while i < n and text[i].isspace():
            i += 1
        if not key or i >= n or text[i] != "=":
            break  # not conninfo we understand: return what was read
        i += 1
        while i < n and text[i].isspace():
            i += 1
        value: list[str] = []
        quoted = i < n and text[i] == "'"
        i += quoted
        while i < n and (quoted or not text[i].isspace()):
            if text[i] == "\\" and i + 1 < n:
                i += 1
            elif quoted and text[i] == "'":
                i += 1
                break
            value.append(text[i])
            i += 1
        result[key] = "".join(value)
    return result


def _parse_uri(text: str) -> dict[str, str]:
    parts = urlsplit(text)
    result: dict[str, str] = {}
    if parts.hostname:
        result["host"] = unquote(parts.hostname)
    if parts.port:
        result["port"] = str(parts.port)
    return result


def upstream(conninfo: str) -> tuple[str | None, int | None]:
    """(host, port) a standby is told to stream from; hostaddr wins over host, as in libpq."""
    fields = parse_conninfo(conninfo)
    host = fields.get("hostaddr") or fields.get("host") or None
    port = fields.get("port", "")
    return host, int(port) if port.isdigit() else _DEFAULT_PORT
