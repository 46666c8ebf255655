"""Settings from the environment (and an optional `.env`), validated once at start.

Every bad value becomes one plain sentence naming the variable and what was expected, so an
operator never has to read a traceback to fix a deployment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SUPPORTED_DATABASES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


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

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(_SUPPORTED_DATABASES):
            raise ValueError(
                "expected a URL starting with sqlite+aiosqlite:/// or postgresql+asyncpg://"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("expected one of DEBUG, INFO, WARNING, ERROR")
        return level

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
        for error in exc.errors():
            name = "COACHBOT_" + "_".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {message}.")
        raise ConfigError("\n".join(lines)) from None
