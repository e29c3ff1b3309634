"""The request class: a JSON body nested too deeply is the client's error, not a crash.

msgspec decodes recursively and raises RecursionError (not a DecodeError) past about a
thousand levels, which Litestar would answer with a 500. No body of this API nests more than
three levels, so any such body is refused as malformed.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from service.problems import invalid_field


class ApiRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise invalid_field("body", "JSON nested too deeply") from None
