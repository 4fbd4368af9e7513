"""`chat serve | token | create-table | cleanup | import`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from .config import Settings, load_settings
from .errors import Invalid

log = logging.getLogger("chat.cli")


def _run(coro: object) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(coro)  # type: ignore[arg-type]
        return
    uvloop.run(coro)  # type: ignore[arg-type]


def _open_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}/"


def serve(settings: Settings) -> int:
    from .logs import configure_logging
    from .realtime.node import ChatNode

    configure_logging(settings.log_level)
    if not settings.auth_configured:
        print(
            "chat serve: no CHAT_JWT_SECRET or CHAT_JWKS_URL is set. Set one, or CHAT_DEV=1 for a "
            "development server that signs its own tokens.",
            file=sys.stderr,
        )
        return 2
    if settings.dev:
        secret_note = "a random secret (tokens die with this process)" if settings.jwt_secret_is_random else (
            "CHAT_JWT_SECRET"
        )
        log.warning(
            "DEVELOPMENT MODE: POST /dev/token hands out a token for any user; never expose this server",
            extra={"secret": secret_note},
        )
        print(
            "\n  *** DEVELOPMENT MODE: anyone can get a token for any user via POST /dev/token ***\n"
            f"  Open {_open_url(settings)}?user=alice&peer=bob and "
            f"{_open_url(settings)}?user=bob&peer=alice in two tabs to chat.\n",
            file=sys.stderr,
            flush=True,
        )
    else:
        print(f"chat serving on {_open_url(settings)}", file=sys.stderr, flush=True)

    async def main() -> None:
        node = await ChatNode.open(settings)
        await node.serve()

    _run(main())
    return 0


def token(settings: Settings, user_id: str, ttl_s: int, name: str | None) -> int:
    from .auth import issue_token

    if settings.jwt_secret is None or settings.jwt_secret_is_random:
        print("chat token: set CHAT_JWT_SECRET to the server's secret", file=sys.stderr)
        return 2
    print(issue_token(settings.jwt_secret, user_id, ttl_s=ttl_s, name=name))
    return 0


def create_table(settings: Settings) -> int:
    import boto3

    from .stores.dynamodb_schema import create_table as create

    client = boto3.client("dynamodb")
    try:
        create(client, settings.dynamodb_table)
    except client.exceptions.ResourceInUseException:
        print(f"table {settings.dynamodb_table} exists already")
        return 0
    print(f"table {settings.dynamodb_table} is ready")
    return 0


def cleanup(settings: Settings) -> int:
    from .assembly import open_service
    from .logs import configure_logging

    configure_logging(settings.log_level)

    async def main() -> None:
        service = await open_service(settings, node_id="cli-cleanup")
        store = service.store
        try:
            report = await service.cleanup(int(time.time() * 1000) + 60_000, local=False)
            print(
                f"nodes reaped {report.nodes_reaped}, connections reaped {report.connections_reaped}, "
                f"users offline {report.users_offline}, complete {report.complete}"
            )
        finally:
            await service.aclose()
            await store.close()

    asyncio.run(main())
    return 0


def import_history(settings: Settings, path: str, *, dry_run: bool, progress: bool) -> int:
    """0: everything imported (or, with dry_run, valid); 1: some records were bad (the chats
    they belong to were skipped, or with a line no chat can be blamed for, everything); 2: the
    file cannot be read."""
    from .clock import now_ms
    from .import_file import parse
    from .importer import ImportReport, Progress, run_import

    try:
        if path == "-":
            plan = parse(sys.stdin.buffer, now_ms())
        else:
            with open(path, "rb") as lines:
                plan = parse(lines, now_ms())
    except OSError as error:
        print(f"chat import: {error}", file=sys.stderr)
        return 2
    for bad in plan.errors:
        print(f"{path}:{bad.line}: {bad.message}", file=sys.stderr)
    if plan.fatal:
        print("chat import: a line that cannot be tied to a chat is bad; nothing was imported", file=sys.stderr)
    valid = plan.valid_chats
    if dry_run:
        count = sum(len(c.messages) for c in valid)
        print(f"dry run: {len(valid)} chats with {count} messages would be imported, {len(plan.errors)} errors")
        return 1 if plan.errors else 0

    from .assembly import open_store
    from .errors import ChatError

    total = sum(len(c.messages) for c in valid)
    bar = Progress(total, sys.stderr, tty=sys.stderr.isatty()) if progress else None
    report = ImportReport()

    async def main() -> int:
        store = await open_store(settings)
        stopped = None
        try:
            await run_import(store, plan, bar, report=report)
        except ChatError as error:
            stopped = error.message
        finally:
            if bar is not None:
                bar.finish()
            await store.close()
        reported = set(plan.errors)
        for refused in report.errors:
            if refused not in reported:  # chats the store could not take
                print(f"{path}:{refused.line}: {refused.message}", file=sys.stderr)
        if stopped is not None:
            print(f"chat import: stopped: {stopped}; run it again to continue", file=sys.stderr)
        print(report.summary())
        return 1 if stopped is not None or report.errors else 0

    return asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat", description="Real-time chat server")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the Socket.IO + HTTP server (settings from the environment)")
    token_cmd = commands.add_parser("token", help="print a token for USER signed with CHAT_JWT_SECRET")
    token_cmd.add_argument("user")
    token_cmd.add_argument("--ttl", type=int, default=3600, help="seconds until it expires (default 3600)")
    token_cmd.add_argument("--name", default=None, help="display name claim")
    commands.add_parser("create-table", help="create the DynamoDB table (CHAT_DYNAMODB_TABLE)")
    commands.add_parser("cleanup", help="one cleanup pass: reap dead nodes' connections, settle offline users")
    import_cmd = commands.add_parser("import", help="import chats and their history from a JSON Lines file")
    import_cmd.add_argument("file", help="the JSON Lines file, - for standard input")
    import_cmd.add_argument("--dry-run", action="store_true", help="check the file only; write nothing")
    import_cmd.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except Invalid as bad:
        print(f"chat: {bad.message}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(settings)
    if args.command == "token":
        return token(settings, args.user, args.ttl, args.name)
    if args.command == "create-table":
        return create_table(settings)
    if args.command == "import":
        return import_history(settings, args.file, dry_run=args.dry_run, progress=not args.no_progress)
    return cleanup(settings)


if __name__ == "__main__":
    sys.exit(main())
