"""Settings from the environment (and an optional `.env`), validated once at start.

Every bad value becomes one plain sentence naming the variable and what was expected, so an
operator never has to read a traceback to fix a deployment.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coachbot.adapters.db.errors import url_problem


class ConfigError(Exception):
    """A setting was missing or malformed; the message is meant for the operator as is."""


class Settings(BaseSettings):
    """The service's settings; each field is read from `COACHBOT_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="COACHBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        default="sqlite+aiosqlite:///coachbot.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB",
    )
    dialogs_dir: Path = Field(default=Path("dialogs"), description="folder holding the dialog files")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")

    # -- Telegram (read by `coachbot run`; a SecretStr so the token never shows in a repr or a log)
    telegram_token: SecretStr | None = Field(default=None, description="the bot token from @BotFather")
    telegram_base_url: str | None = Field(
        default=None, description="a self-hosted Bot API server, e.g. http://127.0.0.1:8081/bot; "
                                  "None means Telegram's own")
    telegram_poll_timeout: int = Field(default=30, ge=0, le=60, description="long-polling seconds")
    telegram_concurrent_updates: int = Field(
        default=4, ge=1, le=1024,
        description="updates handled at once (one at a time per chat); keep it within the database "
                    "pool (5), or connections are opened and closed under load")
    telegram_sends_per_second: float = Field(
        default=30.0, gt=0, description="messages in any one second at most, overall (Telegram's limit is "
                                        "30); each counts from its send until Telegram's answer")
    telegram_chat_sends_per_second: float = Field(
        default=1.0, gt=0, description="sending rate per chat; Telegram allows about 1 per second")
    telegram_chat_burst: int = Field(default=2, ge=1, le=20, description="messages a chat may get at once")
    outbox_retry_base_seconds: float = Field(
        default=1.0, gt=0, description="first retry delay after a network error or a 5xx; doubles after")
    outbox_retry_max_seconds: float = Field(default=300.0, gt=0, description="longest retry delay")
    webhook_listen: str = Field(default="127.0.0.1", description="address the webhook server binds")
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_url: str | None = Field(default=None, description="the public https URL Telegram posts to")
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="sent by Telegram in X-Telegram-Bot-Api-Secret-Token; 16-256 of A-Z a-z 0-9 _ - "
                    "(a shorter one could be guessed)")

    # -- operations (coachbot/adapters/ops/: /healthz, /readyz, /metrics; docs/operations.md)
    ops_port: int = Field(
        default=0, ge=0, le=65535, description="port of the health and metrics endpoints; 0 means off")
    ops_listen: str = Field(default="127.0.0.1", description="address the health and metrics server binds")
    ops_outbox_max_age_seconds: float = Field(
        default=600.0, gt=0, description="/readyz fails while an unsent outbox message is older than this")

    # -- escalations (coachbot/escalations/; the rules and deadlines are in dialogs/escalation.yaml)
    coach_group_chat_id: int | None = Field(
        default=None, description="the coaches' Telegram group: unacknowledged escalations are re-sent "
                                  "there (with the backup coaches) after their deadline")
    alert_show_name: bool = Field(
        default=False,
        description="show the patient's name on alert cards beside the label (off: label only)")

    # -- scheduling (read by the scheduler tick; see coachbot/adapters/scheduler.py)
    schedule_tick_seconds: float = Field(
        default=10.0, ge=1, le=60, description="how often the scheduler looks for due check-ins")
    schedule_quiet_hours: str = Field(
        default="21:00-08:00", description="local HH:MM-HH:MM holding back reminders and late check-ins; "
                                           "the check-in at the patient's chosen time always goes")
    schedule_reminder_minutes: int = Field(
        default=180, ge=1, le=1440, description="one reminder after a check-in unanswered this long")
    schedule_grace_minutes: int = Field(
        default=120, ge=0, le=1440, description="a check-in due while the bot was down is sent this late "
                                                "at most, else recorded as missed")
    schedule_claim_timeout_seconds: int = Field(
        default=60, ge=5, le=3600, description="a claimed check-in not started this long is taken over")
    schedule_reminder_text: str = Field(
        default="A gentle reminder: your check-in is still waiting for you, whenever you are ready.",
        min_length=1, max_length=1000, description="the reminder's words")

    # -- data rights (coachbot/app/data_rights/)
    outbox_keep_sent_hours: float = Field(
        default=48.0, gt=0, le=24 * 365,
        description="a sent message's words are cleared from the outbox after this many hours (the row "
                    "stays: when, to which chat, its kind)")
    retention_days: int | None = Field(
        default=None, ge=1, le=36500,
        description="erase patients inactive for longer than this many days with `coachbot patients "
                    "purge` (list them first with --dry-run); unset: never")

    @field_validator("schedule_quiet_hours")
    @classmethod
    def _quiet_hours_shape(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value.strip()):
            raise ValueError("expected two local times as HH:MM-HH:MM, for example 21:00-08:00")
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if problem := url_problem(value):
            raise ValueError(problem)
        return value.strip()

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("expected one of DEBUG, INFO, WARNING, ERROR")
        return level

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", value.get_secret_value()):
            raise ValueError("expected 16 to 256 characters (a shorter secret could be guessed), each a "
                             "letter, a digit, _ or -")
        return value

    @field_validator("webhook_url", "telegram_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^\s/]+", value):
            raise ValueError("expected a URL starting with https:// (or http:// on a private network)")
        return value

    @field_validator("dialogs_dir")
    @classmethod
    def _dialogs_exist(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"expected a folder of dialog files, but {value} is not a folder")
        return value


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings, turning validation errors into one line per bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):  # the value may be a secret
            name = "COACHBOT_" + "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"{name}: {_expected(error['type'], error['msg'], error.get('ctx') or {})}.")
        raise ConfigError("\n".join(lines)) from None


_BOUNDS = {"greater_than": "above", "greater_than_equal": "of at least", "less_than": "below",
           "less_than_equal": "of at most"}
_KINDS = {"int_parsing": "a whole number", "int_from_float": "a whole number", "float_parsing": "a number",
          "bool_parsing": "true or false", "string_type": "text"}


def _expected(kind: str, message: str, ctx: dict[str, object]) -> str:
    """Pydantic's error as what the variable should hold, e.g. "expected a number of at least 1"."""
    limit = next(iter(ctx.values()), "")
    shown = f"{limit:g}" if isinstance(limit, int | float) else str(limit)
    if kind in _BOUNDS:
        return f"expected a number {_BOUNDS[kind]} {shown}"
    if kind in _KINDS:
        return f"expected {_KINDS[kind]}"
    if kind in ("string_too_short", "string_too_long"):
        most = "at least" if kind == "string_too_short" else "at most"
        return f"expected {most} {shown} character{'' if shown == '1' else 's'}"
    return message.removeprefix("Value error, ").replace("Input should be", "expected", 1)
