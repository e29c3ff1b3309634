"""`switchyard run | migrate | token | cluster ...`: what deployment scripts and tests drive."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from service.settings import SettingsError, load_settings


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from service.api import server_limits
    from service.auth.binding import refuse_reason

    settings = load_settings()  # fail here, with one clear message, before any worker starts
    host = args.host or settings.server.host
    if reason := refuse_reason(settings.auth.mode, host):
        raise SettingsError(reason)
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=args.port if args.port is not None else settings.server.port,
        workers=args.workers or settings.server.workers,
        log_level="info",
        access_log=False,
        # A slow or oversized client must not hold a connection: see service.api.server_limits.
        http="service.api.server_limits:BoundedHttpToolsProtocol",
        timeout_keep_alive=server_limits.KEEP_ALIVE_TIMEOUT,
        h11_max_incomplete_event_size=server_limits.MAX_HEAD_BYTES,
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    import ssl

    from service.migrate import upgrade

    try:
        upgrade(load_settings(), args.revision)
    except ssl.SSLCertVerificationError as exc:
        # One line naming the key, rather than a traceback through asyncio's TLS layer.
        raise SettingsError(
            f"database.migration_url: the server's TLS certificate was not accepted "
            f"({exc.verify_message}); check sslrootcert and the host name"
        ) from None
    return 0


def _token_new(args: argparse.Namespace) -> int:
    from service.auth import SCOPES, new_token, token_digest

    given = {s.strip() for s in args.scopes.split(",") if s.strip()}
    if not given or not given <= set(SCOPES):
        bad = sorted(given - set(SCOPES)) or "none"
        raise SettingsError(f"--scopes: choose among {', '.join(SCOPES)} (got {bad})")
    scopes = [s for s in SCOPES if s in given]
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,100}", args.name):
        raise SettingsError("--name: letters, digits and _ . @ - only (it is pasted into TOML)")
    token = new_token()
    quoted = ", ".join(f'"{s}"' for s in scopes)
    print(f"token (shown once, store it now; only its digest goes into the config):\n{token}\n")
    print("# paste into the config file:")
    print(f'[[auth.tokens]]\nname = "{args.name}"\nsha256 = "{token_digest(token)}"')
    print(f"scopes = [{quoted}]")
    return 0


def _check(args: argparse.Namespace) -> int:
    import asyncio

    from service.check import check, exit_status
    from service.check.render import as_json, text

    report = asyncio.run(check(load_settings(), workers=args.workers, instances=args.instances))
    print(as_json(report) if args.json else text(report))
    return exit_status(report.findings)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    from service.cluster.cli import add_parser as add_cluster_parser

    parser = argparse.ArgumentParser(prog="switchyard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="serve the API (configured by file and environment)")
    run.add_argument("--host", default=None)
    run.add_argument("--port", type=int, default=None)
    run.add_argument("--workers", type=int, default=None, help="worker processes (default 1)")
    run.set_defaults(func=_run)

    migrate = commands.add_parser("migrate", help="apply migrations over the direct primary URL")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.set_defaults(func=_migrate)

    token = commands.add_parser("token", help="mint API tokens").add_subparsers(
        dest="token_command", required=True
    )
    new = token.add_parser("new", help="print a new token once, and the TOML for its digest")
    new.add_argument("--scopes", required=True, help="comma-separated: read,write,analytics,admin")
    new.add_argument("--name", default="client", help="shown in the config (and safe to log)")
    new.set_defaults(func=_token_new)

    check = commands.add_parser(
        "check",
        help="probe every node, say what is wrong (exit 0 fine, 1 warnings, 2 errors)",
    )
    check.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    check.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="processes per instance (default: server.workers)",
    )
    check.add_argument(
        "--instances", type=_positive, default=1, help="instances of the service (default 1)"
    )
    check.set_defaults(func=_check)

    add_cluster_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except SettingsError as exc:
        print(f"switchyard: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
