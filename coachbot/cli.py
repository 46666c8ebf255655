"""The `coachbot` command: operators' and admins' entry point.

Every failure an operator can cause (a bad setting, a broken dialog file, an unreachable database)
ends in plain sentences on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from coachbot import startup
from coachbot.adapters.db.errors import DatabaseUnavailable, url_problem
from coachbot.config import ConfigError, Settings, load_settings
from coachbot.spec import DialogError, Problem, check_path

EXIT_PROBLEMS = 1
EXIT_CONFIG = 2

#: What a command needs of the database (its `database` default): a schema at this code's revision, or
#: only a database it can open, which it may create or migrate itself (`db upgrade`, `run`, `chat`).
MIGRATED, ANY = "migrated", "any"


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "database_url", None):
        if problem := url_problem(args.database_url):
            raise DatabaseUnavailable(f"--database-url: {problem}.")
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
    problems = list(dict.fromkeys(check_path(path) + _data_file_problems(path)))  # escalation.yaml: once
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"{path}: all dialog files are valid")
    return 0


def _data_file_problems(path: Path) -> list[Problem]:
    """The steps, summary, escalation and forget files have their own checkers; run each that applies."""
    from coachbot.app.data_rights.texts import check_texts_file as check_forget_file
    from coachbot.spec.escalation_rules import check_escalation_file
    from coachbot.spec.self_management_texts import check_texts_file
    from coachbot.spec.steps import check_steps_file
    from coachbot.spec.summary_texts import check_summary_file

    checkers = {"steps.yaml": check_steps_file, "summary.yaml": check_summary_file,
                "escalation.yaml": check_escalation_file, "self_management.yaml": check_texts_file,
                "forget.yaml": check_forget_file}
    if path.is_file():
        checker = checkers.get(path.name)
        return checker(path) if checker else []
    return [problem for name, checker in checkers.items() if (path / name).exists()
            for problem in checker(path / name)]


def _cmd_dialogs_schema(args: argparse.Namespace) -> int:
    from coachbot.spec.schema import export_schema

    for written in export_schema(Path(args.out)):
        print(f"wrote {written}")
    return 0


DEMO_FILES = Path(".coachbot-demo")
"""Where `coachbot chat` keeps its log, charts and files (`make clean` removes it)."""


def _cmd_chat(args: argparse.Namespace) -> int:
    from coachbot.adapters.scheduler.tick import config_from_settings
    from coachbot.bootstrap import terminal_chat

    settings = _settings(args)
    log_file = DEMO_FILES / "chat.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # The chat is the patient's screen: log lines go to a file, never between the messages.
    logging.basicConfig(filename=log_file, level=settings.log_level, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        async with terminal_chat(settings.database_url, settings.dialogs_dir, files=DEMO_FILES,
                                 scheduler=config_from_settings(settings),
                                 log_note=f"(Logs go to {log_file}.)") as chat:
            await chat.run()

    asyncio.run(run())
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    """Serve patients and coaches in Telegram until SIGTERM/SIGINT."""
    startup.hold()  # until the bot is taking updates (`serve` releases it), or this returns
    try:
        return _run(args)
    finally:
        startup.release()


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.telegram_token is None or not settings.telegram_token.get_secret_value().strip():
        print("coachbot: COACHBOT_TELEGRAM_TOKEN is not set: put the bot token from @BotFather in it.",
              file=sys.stderr)
        return EXIT_CONFIG
    from coachbot.adapters.telegram.app import BotConfigError, quiet_library_loggers
    from coachbot.bootstrap import serve_telegram

    logging.getLogger("coachbot").setLevel(settings.log_level)
    quiet_library_loggers()
    try:
        asyncio.run(serve_telegram(settings, webhook=args.webhook))
    except BotConfigError as exc:
        print(f"coachbot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def _cmd_coaches_add(args: argparse.Namespace) -> int:
    """Register a coach (or re-activate and rename one) by their Telegram user id."""
    from sqlalchemy import select

    from coachbot.adapters.db.database import make_engine, make_sessionmaker
    from coachbot.adapters.db.models import Coach

    settings = _settings(args)
    name = args.name.strip()
    if not name or len(name) > 200:
        print("coachbot: --name needs 1 to 200 characters", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.telegram_id <= 0:
        print("coachbot: --telegram-id is the coach's numeric Telegram user id, a positive number",
              file=sys.stderr)
        return EXIT_PROBLEMS

    async def add() -> tuple[int, bool]:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                coach = (await session.execute(
                    select(Coach).where(Coach.telegram_user_id == args.telegram_id))).scalar_one_or_none()
                created = coach is None
                if coach is None:
                    coach = Coach(telegram_user_id=args.telegram_id, name=name, active=True,
                                  created_at=dt.datetime.now(dt.UTC))
                    session.add(coach)
                else:
                    coach.name, coach.active = name, True
                await session.flush()
                return coach.id, created
        finally:
            await engine.dispose()

    coach_id, created = asyncio.run(add())
    verb = "registered" if created else "updated"
    print(f"{verb} coach {coach_id} for Telegram user {args.telegram_id}; they should now send /start to "
          "the bot (a running bot also delivers any alerts waiting for a coach then)")
    return 0


def _cmd_coaches_invite(args: argparse.Namespace) -> int:
    """A one-time code for a new coach, who sends /coach CODE to the bot; only its hash is stored."""
    from coachbot.app.coaches.admin import invite

    settings = _settings(args)
    name = args.name.strip()
    if not name or len(name) > 200 or not 0 < args.expires_hours <= 24 * 30:
        print("coachbot: --name needs 1 to 200 characters and --expires-hours a number from 1 to 720",
              file=sys.stderr)
        return EXIT_PROBLEMS
    made = asyncio.run(invite(settings.database_url, name=name, is_admin=args.admin, is_backup=args.backup,
                              expires_hours=args.expires_hours))
    print(f"invite code: {made.code}\nvalid once, until {made.expires_at:%Y-%m-%d %H:%M} UTC; the new coach "
          "sends /coach followed by the code to the bot. It is not stored and cannot be shown again.")
    return 0


def _cmd_coaches_list(args: argparse.Namespace) -> int:
    from coachbot.app.coaches.admin import coaches

    for line in asyncio.run(coaches(_settings(args).database_url)) or ["no coaches registered"]:
        print(line)
    return 0


def _cmd_coaches_remove(args: argparse.Namespace) -> int:
    """Mark a coach inactive and give their patients to the other coaches (audited)."""
    from coachbot.app.coaches.admin import AdminError, remove

    try:
        print(asyncio.run(remove(_settings(args).database_url, args.coach)))
    except AdminError as exc:
        print(f"coachbot: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    return 0


def _cmd_patients_reassign(args: argparse.Namespace) -> int:
    from coachbot.app.coaches.admin import AdminError, reassign

    try:
        print(asyncio.run(reassign(_settings(args).database_url, args.label, args.coach)))
    except AdminError as exc:
        print(f"coachbot: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    return 0


def _cmd_patients_erase(args: argparse.Namespace) -> int:
    """Erase everything held about one patient (audited; their coach is told)."""
    from coachbot.app.data_rights.staff import NoSuchPatient, erase
    from coachbot.app.data_rights.texts import load_texts

    settings = _settings(args)
    if not args.yes:
        print(f"coachbot: erasing {args.label} cannot be undone; run again with --yes to erase it",
              file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        print(asyncio.run(erase(settings.database_url, args.label, load_texts(settings.dialogs_dir),
                                dt.datetime.now(dt.UTC), group_chat_id=settings.coach_group_chat_id)))
    except NoSuchPatient as exc:
        print(f"coachbot: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    return 0


def _cmd_patients_export(args: argparse.Namespace) -> int:
    """Everything held about one patient, as JSON and a CSV of measurements (audited)."""
    from coachbot.app.data_rights.staff import NoSuchPatient, export

    try:
        done = asyncio.run(export(_settings(args).database_url, args.label, Path(args.out),
                                  dt.datetime.now(dt.UTC)))
    except NoSuchPatient as exc:
        print(f"coachbot: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"wrote {done.json_path} and {done.csv_path} ({done.measurements} measurement(s))")
    return 0


def _cmd_patients_purge(args: argparse.Namespace) -> int:
    """Erase patients inactive for longer than COACHBOT_RETENTION_DAYS (--dry-run lists them only)."""
    from coachbot.app.data_rights.staff import retention

    settings = _settings(args)
    if settings.retention_days is None:
        print("coachbot: COACHBOT_RETENTION_DAYS is not set, so nothing is purged; set it to a number "
              "of days, for example 730", file=sys.stderr)
        return EXIT_PROBLEMS
    for line in asyncio.run(retention(settings.database_url, settings.retention_days,
                                      dt.datetime.now(dt.UTC), dry_run=args.dry_run)):
        print(line)
    return 0


def _cmd_schedule_status(args: argparse.Namespace) -> int:
    """How many check-ins of one local date are due, queued, sent, answered, missed and skipped."""
    from coachbot.adapters.db.schedule_status import day_counts

    now = dt.datetime.now(dt.UTC)

    async def report(session: Any) -> str:
        return (await day_counts(session, args.date or now.date(), now)).report(now)

    return _print_report(args, report)


def _cmd_escalations_list(args: argparse.Namespace) -> int:
    """Escalations, urgent first then oldest (`listing.ORDER`): labels, rules, tiers and times only."""
    from coachbot.adapters.db.unit_of_work import joined
    from coachbot.app.escalations.listing import escalation_table

    async def report(session: Any) -> str:
        return await escalation_table(joined(session), args.status, args.tier)

    return _print_report(args, report)


def _print_report(args: argparse.Namespace, report: Callable[[Any], Awaitable[str]]) -> int:
    """Print what `report` reads in one session of the configured database."""
    from coachbot.adapters.db.database import make_engine, make_sessionmaker

    settings = _settings(args)

    async def read() -> str:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await report(session)
        finally:
            await engine.dispose()

    print(asyncio.run(read()))
    return 0


def _cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the database in one file, safe while the bot runs."""
    from coachbot.adapters.db import backup

    url = _settings(args).database_url
    out = Path(args.output)
    try:
        backup.check_output(out)
        if url.startswith("sqlite"):
            done = backup.backup_sqlite(url, out)
        else:
            done = backup.backup_postgres(url, out)
    except backup.BackupError as exc:
        print(f"coachbot: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(done.line("backed up to"))
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    """Put a backup back; a database that holds tables is replaced only with --force."""
    from coachbot.adapters.db import backup

    url = _settings(args).database_url
    source = Path(args.file)
    try:
        kind = backup.backup_kind(source)
        backup.check_match(kind, url)
        if kind == "sqlite":
            done = backup.restore_sqlite(url, source, force=args.force)
        else:
            tables = asyncio.run(backup.postgres_tables(url))
            done = backup.restore_postgres(url, source, tables_now=tables, force=args.force)
    except backup.BackupError as exc:
        print(f"coachbot: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(done.line("restored from"))
    print("run `coachbot db upgrade` if this backup came from an older coachbot, then start the bot")
    return 0


def _local_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, not {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coachbot", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    upgrade = db.add_parser("upgrade", help="create or upgrade the database schema")
    upgrade.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    upgrade.set_defaults(func=_cmd_db_upgrade, database=ANY)

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
    chat.set_defaults(func=_cmd_chat, database=ANY)

    run = commands.add_parser("run", help="serve patients and coaches in Telegram")
    run.add_argument("--webhook", action="store_true",
                     help="take updates by webhook (COACHBOT_WEBHOOK_*) instead of long polling")
    run.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    run.add_argument("--dialogs", help="overrides COACHBOT_DIALOGS_DIR")
    run.set_defaults(func=_cmd_run, database=ANY)

    backup = commands.add_parser("backup", help="copy the database to one file, consistently (safe while "
                                 "the bot runs)")
    backup.add_argument("-o", "--output", required=True, metavar="FILE", help="the new file to write")
    backup.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    backup.set_defaults(func=_cmd_backup, database=ANY)
    restore = commands.add_parser("restore", help="replace the database with a backup (stop the bot first)")
    restore.add_argument("file", metavar="FILE", help="a file `coachbot backup -o` wrote")
    restore.add_argument("--force", action="store_true", help="replace a database that already holds tables")
    restore.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    restore.set_defaults(func=_cmd_restore, database=ANY)

    coaches = commands.add_parser("coaches", help="coaches who receive alerts").add_subparsers(
        dest="coaches_cmd", required=True)
    add = coaches.add_parser("add", help="register a coach by their Telegram user id")
    add.add_argument("--telegram-id", type=int, required=True, help="the coach's numeric Telegram user id")
    add.add_argument("--name", required=True, help="how the bot greets them (never shown to patients)")
    add.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    add.set_defaults(func=_cmd_coaches_add, database=MIGRATED)
    invite = coaches.add_parser("invite", help="make a one-time code a new coach sends as /coach CODE")
    invite.add_argument("--name", default="Coach", help="how the bot greets them (never shown to patients)")
    invite.add_argument("--admin", action="store_true", help="the new coach sees every patient")
    invite.add_argument("--backup", action="store_true", help="the new coach is a backup for urgent alerts")
    invite.add_argument("--expires-hours", type=float, default=72,
                        help="how long the code works (default 72)")
    invite.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    invite.set_defaults(func=_cmd_coaches_invite, database=MIGRATED)
    listing = coaches.add_parser("list", help="coaches, their numbers and how many open patients each has")
    listing.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    listing.set_defaults(func=_cmd_coaches_list, database=MIGRATED)
    remove = coaches.add_parser("remove",
                                help="mark a coach inactive; their patients go to the other coaches")
    remove.add_argument("coach", metavar="CODE_OR_ID",
                        help="the coach's number (coachbot coaches list) or the invite code they joined with")
    remove.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    remove.set_defaults(func=_cmd_coaches_remove, database=MIGRATED)
    patients = commands.add_parser("patients", help="patients").add_subparsers(dest="patients_cmd",
                                                                               required=True)
    reassign = patients.add_parser("reassign", help="give a patient to another coach")
    reassign.add_argument("label", help="the patient's label, e.g. P-4KX7QM")
    reassign.add_argument("--coach", type=int, required=True,
                          help="the coach's number (coachbot coaches list)")
    reassign.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    reassign.set_defaults(func=_cmd_patients_reassign, database=MIGRATED)
    erase = patients.add_parser("erase", help="erase everything held about a patient (audited; their "
                                              "coach is told)")
    erase.add_argument("label", help="the patient's label, e.g. P-4KX7QM")
    erase.add_argument("--yes", action="store_true", help="confirm: erasing cannot be undone")
    erase.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    erase.add_argument("--dialogs", help="overrides COACHBOT_DIALOGS_DIR (for forget.yaml's words)")
    erase.set_defaults(func=_cmd_patients_erase, database=MIGRATED)
    export = patients.add_parser("export", help="write everything held about a patient as JSON, and "
                                                "their measurements as CSV (audited)")
    export.add_argument("label", help="the patient's label, e.g. P-4KX7QM")
    export.add_argument("--out", default=".", help="folder to write LABEL.json and "
                                                  "LABEL-measurements.csv into (default: here)")
    export.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    export.set_defaults(func=_cmd_patients_export, database=MIGRATED)
    purge = patients.add_parser("purge", help="erase patients inactive for longer than "
                                              "COACHBOT_RETENTION_DAYS")
    purge.add_argument("--dry-run", action="store_true", help="list them, erase nothing")
    purge.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    purge.set_defaults(func=_cmd_patients_purge, database=MIGRATED)
    schedule = commands.add_parser("schedule", help="the check-in scheduler").add_subparsers(
        dest="schedule_cmd", required=True)
    status = schedule.add_parser("status", help="how many check-ins are due, queued, sent and missed today")
    status.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    status.add_argument("--date", type=_local_date, help="the patients' local date (default: today, UTC)")
    status.set_defaults(func=_cmd_schedule_status, database=MIGRATED)
    escalations = commands.add_parser("escalations", help="escalations raised for coaches").add_subparsers(
        dest="escalations_cmd", required=True)
    order = "urgent first, then soon, then routine; oldest first within a tier"  # = listing.ORDER
    listing = escalations.add_parser(
        "list", help=f"escalations, {order} (labels only, never names)",
        description=f"Escalations, {order}. Labels, rules, tiers, statuses and times only: no names, "
                    "no reasons or notes, no message text.")
    listing.add_argument("--status", choices=("open", "acknowledged", "resolved", "unresolved", "all"),
                         default="unresolved",
                         help="which to show (default: unresolved, that is open or acknowledged)")
    listing.add_argument("--tier", choices=("urgent", "soon", "routine"), help="only this tier")
    listing.add_argument("--database-url", help="overrides COACHBOT_DATABASE_URL")
    listing.set_defaults(func=_cmd_escalations_list, database=MIGRATED)
    return parser


def _run_command(args: argparse.Namespace) -> int:
    """Run the chosen command; one that opens the database first checks that it can (and, when it needs
    the schema, that the schema is current), and any database failure becomes `DatabaseUnavailable`."""
    need = getattr(args, "database", None)
    if need is None:
        return int(args.func(args))
    from coachbot.adapters.db.errors import check_database, database_errors

    url = _settings(args).database_url
    source = "--database-url" if getattr(args, "database_url", None) else "COACHBOT_DATABASE_URL"
    asyncio.run(check_database(url, source, migrated=need == MIGRATED))
    with database_errors(url, source, connecting=False):
        return int(args.func(args))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _run_command(args)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"coachbot: {line}", file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseUnavailable as exc:
        print(f"coachbot: {exc}", file=sys.stderr)
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
