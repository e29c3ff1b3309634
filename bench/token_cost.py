"""What token checking adds to a request, in CPU microseconds, measured precisely.

A request's CPU cost through the real service swings by more than 5% between runs seconds
apart on a shared machine (an A/A comparison of two identical service apps, paired batches
in one process, read 0.95 and 0.98 here), so the check is timed where nothing else moves:
one GET route with the service's template `/customers/{email:str}`, no database, built once
without and once with `AuthPlugin` (five digests, the request carrying the last), called
straight through ASGI in batches that alternate between the two. The added microseconds
are the difference of the two sides' fastest batches (timeit's rule: noise only adds), and
bench/read_path.py divides them by the service's CPU per request under wrk, from the same
run: the check's share of a served read.

Alone: `python bench/token_cost.py` (no database needed).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from common import REPO_ROOT  # noqa: F401  (first: puts the checkout on sys.path)
from litestar import Litestar, get
from litestar.params import FromPath

from service.auth import AuthPlugin, TokenTable, new_token, token_digest
from service.problems import problem_details_plugin

CONFIGURED_TOKENS = 5  # every digest is compared on every request (constant time)
BUDGET = 0.05
PATH = "/customers/someone@example.com"


def tokens_env() -> tuple[dict[str, str], dict[str, str]]:
    """The environment of a service in tokens mode, and the headers of a client with `read`."""
    tokens = [new_token() for _ in range(CONFIGURED_TOKENS)]
    table = [
        {"name": f"bench-{i}", "sha256": token_digest(token), "scopes": ["read"]}
        for i, token in enumerate(tokens)
    ]
    env = {"SWITCHYARD_AUTH__MODE": "tokens", "SWITCHYARD_AUTH__TOKENS": json.dumps(table)}
    return env, {"Authorization": f"Bearer {tokens[-1]}"}


@dataclass
class TokenCost:
    added_us: float  # CPU µs the check adds to one request
    off_us: float  # the bare route's fastest batch, µs per request
    pairs: int

    def share_of(self, request_us: float) -> float:
        return self.added_us / request_us if request_us else float("nan")

    def summary(self, request_us: float) -> str:
        share = self.share_of(request_us)
        verdict = "within" if share <= BUDGET else "OVER"
        return (
            f"token check: +{self.added_us:.1f} CPU µs per request (DB-free route "
            f"{self.off_us:.1f} -> {self.off_us + self.added_us:.1f} µs, fastest of "
            f"{self.pairs} alternating batches each) = {share:.1%} of the service's "
            f"{request_us:.0f} µs per read under wrk; {verdict} the {BUDGET:.0%} budget"
        )


@get("/customers/{email:str}")
async def _customer(email: FromPath[str]) -> dict[str, str]:
    return {"email": email}


def _app(tokens: TokenTable | None) -> Litestar:
    return Litestar(
        [_customer], plugins=[AuthPlugin(tokens), problem_details_plugin()], logging_config=None
    )


async def _batch(app: Litestar, headers: list[tuple[bytes, bytes]], requests: int) -> float:
    """Process CPU µs per request over `requests` GETs, one at a time."""
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
    }  # fmt: skip
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    before = time.process_time()
    for _ in range(requests):
        await app({**scope, "state": {}}, receive, send)  # type: ignore[arg-type]
    spent = time.process_time() - before
    if statuses != {200}:
        raise RuntimeError(f"the bench route answered {sorted(statuses)}, not only 200")
    return spent * 1e6 / requests


async def measure(pairs: int = 15, requests: int = 2000) -> TokenCost:
    auth_env, client = tokens_env()
    table = TokenTable(
        (t["name"], t["sha256"], t["scopes"])
        for t in json.loads(auth_env["SWITCHYARD_AUTH__TOKENS"])
    )
    off, on = _app(None), _app(table)
    headers = [(b"host", b"bench")] + [(k.lower().encode(), v.encode()) for k, v in client.items()]
    off_us: list[float] = []
    on_us: list[float] = []
    for index in range(pairs + 1):  # the first pair warms both up and is dropped
        order = ((off, off_us), (on, on_us)) if index % 2 == 0 else ((on, on_us), (off, off_us))
        for app, results in order:
            results.append(await _batch(app, headers, requests))
    off_us, on_us = off_us[1:], on_us[1:]
    return TokenCost(min(on_us) - min(off_us), min(off_us), pairs)


def main() -> int:
    cost = asyncio.run(measure())
    print(f"token check: +{cost.added_us:.1f} CPU µs per request (bare route {cost.off_us:.1f} µs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
