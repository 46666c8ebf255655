"""The `coachbot` command: operators' and admins' entry point.

Every failure an operator can cause (a bad setting, a broken dialog file, an unreachable database)
ends in plain sentences on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from coachbot.config import ConfigError, Settings, load_settings
from coachbot.spec import DialogError, check_path

EXIT_PROBLEMS = 1
EXIT_CONFIG = 2


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    if getattr(args, "dialogs", None):
        overrides["dialogs_dir"] = args.dialogs
    return load_settings(**overrides)


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from coachbot.adapters.db.migrate import upgrade

    settings = _settings(args)
    upgrade(settings.database_url)
    print("database schema is up to date")
    return 0


def _cmd_dialogs_validate(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        print(f"{path}: no such file or folder; expected a dialogs folder or a .yaml file",
              file=sys.stderr)
        return EXIT_PROBLEMS
    problems = check_path(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"{path}: all dialog files are valid")
    return 0


def _cmd_dialogs_schema(args: argparse.Namespace) -> int:
    from coachbot.spec.schema import export_schema

    for written in export_schema(Path(args.out)):
        print(f"wrote {written}")
    return 0


def _cmd_chat(args: argparse.Namespace) -> int:
    from coachbot.adapters.terminal import SimulatedClock, TerminalChat
    from coachbot.bootstrap import build_app

    settings = _settings(args)

    async def run() -> None:
        clock = SimulatedClock()
        app = await build_app(settings.database_url, settings.dialogs_dir, clock=clock)
        try:
            await TerminalChat(app, clock).run()
        finally:
            await app.close()

    asyncio.run(run())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coachbot", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    upgrade = db.add_parser("upgrade", help="create or upgrade the database schema")
    upgrade.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    upgrade.set_defaults(func=_cmd_db_upgrade)

    dialogs = commands.add_parser("dialogs", help="dialog files").add_subparsers(dest="dialogs_cmd",
                                                                               required=True)
    validate = dialogs.add_parser("validate", help="check dialog files and report every problem")
    validate.add_argument("path", nargs="?", default="dialogs", help="a dialogs folder or one file")
    validate.set_defaults(func=_cmd_dialogs_validate)
    schema = dialogs.add_parser("schema", help="write JSON Schemas of the dialog files for editors")
    schema.add_argument("--out", default="dialogs/schema", help="folder to write into")
    schema.set_defaults(func=_cmd_dialogs_schema)

    chat = commands.add_parser("chat", help="chat with coachbot in this terminal, as a patient")
    chat.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    chat.add_argument("--dialogs", help="overrides COACHBOT_DIALOGS_DIR")
    chat.set_defaults(func=_cmd_chat)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"coachbot: configuration problem:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except DialogError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"coachbot: {len(exc.problems)} problem(s) in the dialog files", file=sys.stderr)
        return EXIT_PROBLEMS
    except OSError as exc:
        print(f"coachbot: {exc.strerror or exc} ({type(exc).__name__})", file=sys.stderr)
        return EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
