"""The `gongzhi` command: run the bot, migrate, set up communities, play the demo."""
from __future__ import annotations

import argparse
import os
import asyncio
import html
import logging
import re
import sys
from typing import Any
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from bot.config import ConfigError, Settings, problems
from bot.errors import DomainError


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.bot_token is None:
        raise ConfigError("BOT_TOKEN is not set: put it in the environment or .env (or try `gongzhi demo`, "
                          "which needs no token)")
    if args.webhook and (not settings.webhook_url or not settings.webhook_secret):
        raise ConfigError("WEBHOOK_URL and WEBHOOK_SECRET must be set for --webhook")
    if args.workers < 1:
        raise ConfigError("--workers must be 1 or more")
    if args.workers > 1 and not args.webhook:
        raise ConfigError("several workers need --webhook: Telegram gives polling updates to one process only")
    if args.workers > 1 and settings.database_url.startswith("sqlite"):
        raise ConfigError("several workers need PostgreSQL (DATABASE_URL=postgresql+asyncpg://...): "
                          "SQLite takes one process per database")
    from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

    from bot.app import run_polling, run_webhook

    _upgrade(settings.database_url)
    if args.workers > 1:
        from bot.workers import supervise

        return supervise(args.workers)
    try:
        asyncio.run(run_webhook(settings, reuse_port=args.reuse_port) if args.webhook else run_polling(settings))
    except KeyboardInterrupt:
        pass
    except TelegramUnauthorizedError:
        raise ConfigError("Telegram refused BOT_TOKEN (401 Unauthorized): copy it again from @BotFather") from None
    except TelegramNetworkError as e:
        print(f"cannot reach Telegram at {settings.telegram_api_base}: {e}", file=sys.stderr)
        return 1
    return 0


def _upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate, or say in one line why the database cannot be opened."""
    from alembic.util import CommandError
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from storage.migrate import upgrade

    url = make_url(database_url)
    where = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        folder = Path(url.database).expanduser().resolve().parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise ConfigError(f"cannot open the database at {where}: the folder {folder} does not exist "
                              "or is not writable")
    try:
        upgrade(database_url, revision)
    except CommandError as e:
        raise ConfigError(f"cannot migrate to {revision!r}: {e}") from None
    except (DBAPIError, OSError) as e:
        reason = str(getattr(e, "orig", None) or e).splitlines()[0]
        raise ConfigError(f"cannot open the database at {where}: {reason}") from None


def _db(args: argparse.Namespace, settings: Settings) -> int:
    if args.db_command == "backup":
        from storage.backup import BackupError, backup

        try:
            how = backup(settings.database_url, Path(args.file))
        except (BackupError, OSError) as e:
            raise ConfigError(f"backup: {e}") from None
        print(f"backup written to {args.file} ({how})")
        return 0
    if args.db_command == "copy":
        return _copy(args, settings)
    _upgrade(settings.database_url, args.revision)
    print(f"database at {args.revision}")
    return 0


def _copy(args: argparse.Namespace, settings: Settings) -> int:
    """Every table of the SQLite deployment into an empty PostgreSQL database; counts compared."""
    from storage.copy import CopyError, check_urls, copy

    try:
        check_urls(settings.database_url, args.to)
    except CopyError as e:
        raise ConfigError(f"copy: {e}") from None
    _upgrade(settings.database_url)
    _upgrade(args.to)  # an empty database gets the schema; a migrated one is left as it is
    try:
        counts = asyncio.run(copy(settings.database_url, args.to))
    except CopyError as e:
        raise ConfigError(f"copy: {e}") from None
    width = max(len(c.table) for c in counts)
    for c in counts:
        print(f"{c.table:<{width}}  {c.source:>9}  {c.target:>9}" + ("" if c.ok else "  MISMATCH"))
    wrong = [c.table for c in counts if not c.ok]
    if wrong:
        print(f"gongzhi: copy: row counts differ in {', '.join(wrong)}", file=sys.stderr)
        return 1
    print(f"copied {sum(c.source for c in counts)} rows in {len(counts)} tables; counts match. "
          "Point DATABASE_URL at the new database and start the bot.")
    return 0


def _inbox(args: argparse.Namespace, settings: Settings) -> int:
    """Updates that failed for good: list them, or put them back in the queue."""
    from bot import inbox
    from storage.db import Database

    _upgrade(settings.database_url)

    async def work() -> int:
        db = Database(settings.database_url)
        try:
            if args.inbox_command == "retry":
                count = await inbox.retry(db, args.update_ids or None)
                print(f"{count} update(s) queued again; a running bot handles them within seconds")
                return 0
            rows = await inbox.failed(db)
            for row in rows:
                print(f"{row.update_id}\tfrom {row.person}\t{row.attempts} attempt(s)\t{row.error}")
            print(f"{len(rows)} failed update(s)")
            return 0
        finally:
            await db.dispose()

    return asyncio.run(work())


async def _with_services(settings: Settings, work):  # type: ignore[no-untyped-def]
    from bot.services.community import CommunityService
    from storage.db import Database

    db = Database(settings.database_url)
    try:
        return await work(CommunityService(db))
    finally:
        await db.dispose()


def _community(args: argparse.Namespace, settings: Settings) -> int:
    _upgrade(settings.database_url)

    async def work(svc):  # type: ignore[no-untyped-def]
        return await svc.create(args.name, admin_id=args.admin, code=args.code, locale=args.locale,
                                timezone=args.timezone)

    community, token = asyncio.run(_with_services(settings, work))
    username = settings.bot_username or "<your_bot>"
    print(f"community {community.name} created (code {community.code}, id {community.id})")
    print(f"user {args.admin} is staff of it already. Their link, which admits only Telegram id {args.admin} "
          f"(one use, 24 hours): https://t.me/{username}?start={token}")
    print(f"or send the bot: /start {token}")
    return 0


def _grid(args: argparse.Namespace, settings: Settings) -> int:
    _upgrade(settings.database_url)
    if args.grid_command == "add":
        names = [n.partition("=") for n in args.name or []]
        if names and len(args.names) != 1:
            print("--name gives one micro-grid's name in another language: add one grid at a time with it")
            return 2

        async def add(svc: Any) -> list[Any]:
            added = await svc.add_grids(args.community, args.names)
            for locale, _, text in names:
                await svc.set_name(args.community, "grid", args.names[0], locale.strip(), text)
            return added

        added = asyncio.run(_with_services(settings, add))
        print(f"added {len(added)} grid(s): " + ", ".join(g.name for g in added))
        for locale, _, text in names:
            print(f"{args.names[0]} in {locale.strip()}: {text}")
    else:
        community, grids = asyncio.run(_with_services(settings, lambda svc: svc.list_grids(args.community)))
        print(f"{community.name} ({community.code}): {len(grids)} grid(s)")
        for g in grids:
            others = ", ".join(f"{k}={v}" for k, v in sorted((g.names or {}).items()))
            print(f"  {g.id}\t{g.name}" + (f"\t{others}" if others else ""))
    return 0


def _category(args: argparse.Namespace, settings: Settings) -> int:
    """Categories of requests staff add, named in every language (#16)."""
    from bot.i18n import normalise, shipped_locales

    _upgrade(settings.database_url)
    locales = tuple(shipped_locales(settings.locales_dir))
    if args.category_command == "add":
        names: dict[str, str] = {}
        for given in args.name or []:
            code, _, text = given.partition("=")
            locale = normalise(code, locales)
            if locale is None or not text.strip():
                print(f"--name {given!r}: give LOCALE=NAME, LOCALE one of {', '.join(locales)}", file=sys.stderr)
                return 2
            names[locale] = text.strip()
        cat = asyncio.run(_with_services(settings, lambda svc: svc.add_category(args.community, args.name_, names)))
        print(f"category {cat.code} added: {cat.name}" + "".join(f", {k}={v}" for k, v in sorted(cat.names.items())))
    elif args.category_command == "remove":
        cat = asyncio.run(_with_services(settings, lambda svc: svc.remove_category(args.community, args.code)))
        print(f"category {cat.code} ({cat.name or cat.code}) is no longer offered; requests filed under it keep it")
    else:
        community, cats = asyncio.run(_with_services(settings, lambda svc: svc.categories(args.community, locales)))
        print(f"{community.name} ({community.code}): {len(cats)} categories")
        for cat, missing in cats:
            others = ", ".join(f"{k}={v}" for k, v in sorted(cat.names.items()))
            line = f"  {cat.code}\t{cat.name or '(built in)'}" + (f"\t{others}" if others else "")
            print(line + (f"\tmissing: {', '.join(missing)}" if missing else ""))
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.sandbox.demo import main as demo_main

    return asyncio.run(demo_main(database_url=args.database_url, verbose=args.verbose))


def _export(args: argparse.Namespace, settings: Settings) -> int:
    """CSV files of one community for a date range (the community's local days, inclusive)."""
    import getpass
    from pathlib import Path

    from bot.services.reports import export_csv
    from storage.db import Database

    if args.date_to < args.date_from:
        print("--to is before --from", file=sys.stderr)
        return 2
    out = Path(args.out or f"export-{args.community}-{args.date_from}-{args.date_to}")

    async def work() -> dict[str, int]:
        db = Database(settings.database_url)
        try:
            return await export_csv(db, args.community, args.date_from, args.date_to, out,
                                    include_restricted=args.include_restricted, by=getpass.getuser())
        finally:
            await db.dispose()

    for name, rows in asyncio.run(work()).items():
        print(f"{out / name}: {rows} row(s)")
    if args.include_restricted:
        print("restricted free text included; this export was recorded in the audit log")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gongzhi", description="Gongzhi (共治) community co-governance bot")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot (polling; --webhook for a webhook server)")
    run.add_argument("--webhook", action="store_true")
    run.add_argument("--workers", type=int, default=1,
                     help="worker processes sharing the webhook port (PostgreSQL only; default 1)")
    run.add_argument("--reuse-port", action="store_true",
                     help="let other workers listen on the same port (set by --workers)")
    run.set_defaults(func=_run)
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="migrate to the newest schema")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=_db)
    bk = db_sub.add_parser("backup", help="a consistent copy of the database while the bot runs")
    bk.add_argument("file", help="where to write it (a new file)")
    bk.set_defaults(func=_db)
    cp = db_sub.add_parser("copy", help="copy this (SQLite) database into an empty PostgreSQL database")
    cp.add_argument("--to", required=True, metavar="POSTGRES_URL", help="postgresql+asyncpg://user:password@host/db")
    cp.set_defaults(func=_db)
    com = sub.add_parser("community", help="communities")
    com_sub = com.add_subparsers(dest="community_command", required=True)
    create = com_sub.add_parser("create", help="create a community and a staff invitation")
    create.add_argument("name")
    create.add_argument("--admin", type=int, required=True, help="Telegram user id of the first staff member")
    create.add_argument("--code", help="short code for request numbers, e.g. JMS")
    create.add_argument("--locale", default="zh_Hans")
    create.add_argument("--timezone", default="Asia/Shanghai")
    create.set_defaults(func=_community)
    grid = sub.add_parser("grid", help="micro-grids")
    grid_sub = grid.add_subparsers(dest="grid_command", required=True)
    add = grid_sub.add_parser("add", help="add micro-grids to a community")
    add.add_argument("community")
    add.add_argument("names", nargs="+")
    add.add_argument("--name", action="append", metavar="LOCALE=NAME",
                     help='the grid\'s name in another language, e.g. --name en="Grid 1" (repeatable)')
    add.set_defaults(func=_grid)
    lst = grid_sub.add_parser("list", help="list a community's micro-grids")
    lst.add_argument("community")
    lst.set_defaults(func=_grid)
    cat = sub.add_parser("category", help="categories of requests")
    cat_sub = cat.add_subparsers(dest="category_command", required=True)
    cadd = cat_sub.add_parser("add", help="add a category, named in the community's language")
    cadd.add_argument("community", help="name, code or id")
    cadd.add_argument("name_", metavar="name")
    cadd.add_argument("--name", action="append", metavar="LOCALE=NAME",
                      help='its name in another language, e.g. --name en="Parking" (repeatable)')
    cadd.set_defaults(func=_category)
    crm = cat_sub.add_parser("remove", help="stop offering a category for new requests")
    crm.add_argument("community", help="name, code or id")
    crm.add_argument("code")
    crm.set_defaults(func=_category)
    cls = cat_sub.add_parser("list", help="a community's categories and the languages their names are missing in")
    cls.add_argument("community", help="name, code or id")
    cls.set_defaults(func=_category)
    exp = sub.add_parser("export", help="CSV files of a community's requests, ratings, votes and points")
    exp.add_argument("community", help="name, code or id")
    exp.add_argument("--from", dest="date_from", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    exp.add_argument("--to", dest="date_to", required=True, type=date.fromisoformat, help="YYYY-MM-DD (inclusive)")
    exp.add_argument("--out", help="directory (default: export-COMMUNITY-FROM-TO)")
    exp.add_argument("--include-restricted", action="store_true",
                     help="also write restricted free text (answers, comments, notes) and unscrubbed "
                          "descriptions; recorded in the audit log")
    exp.set_defaults(func=_export)
    inb = sub.add_parser("inbox", help="updates that failed for good: list or retry them")
    inb_sub = inb.add_subparsers(dest="inbox_command", required=True)
    inb_sub.add_parser("failed", help="list failed updates").set_defaults(func=_inbox)
    again = inb_sub.add_parser("retry", help="queue failed updates again (all, or the ids given)")
    again.add_argument("update_ids", nargs="*", type=int)
    again.set_defaults(func=_inbox)
    demo = sub.add_parser("demo", help="play the whole story against a local Bot API emulator (no token)")
    demo.add_argument("--database-url", default=None, help="default: a throwaway SQLite file")
    demo.add_argument("-v", "--verbose", action="store_true")
    demo.set_defaults(func=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)  # unknown arguments: argparse says so and exits 2
    try:
        settings = Settings()
    except ValidationError as e:
        print(f"gongzhi: configuration: {problems(e)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return args.func(args, settings)
    except ConfigError as e:
        print(f"gongzhi: {e}", file=sys.stderr)
        return 2
    except DomainError as e:
        from bot.i18n import Catalogs
        from bot.render import Renderer

        renderer = Renderer(Catalogs(path=settings.locales_dir, default_locale=settings.default_locale))
        text = renderer.render("error", settings.default_locale, code=e.code, **e.args_)
        print(re.sub(r"<[^>]+>", "", html.unescape(text)), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
