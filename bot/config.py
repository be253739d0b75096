"""Settings from the environment or a `.env` file (never committed)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ROOT = Path(__file__).resolve().parent.parent
TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
DRIVERS = {"sqlite+aiosqlite", "postgresql+asyncpg"}


def shipped_locales(path: Path) -> list[str]:
    return sorted(p.parent.parent.name for p in path.glob("*/LC_MESSAGES/messages.po"))


class ConfigError(Exception):
    """A setting that cannot work: the CLI says it in one line and exits 2."""


def problems(error: ValidationError) -> str:
    """A settings error as one line, without pydantic's decoration."""
    return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    bot_token: Optional[SecretStr] = None
    bot_username: Optional[str] = None  # only for links printed by the CLI; the bot asks getMe
    telegram_api_base: str = "https://api.telegram.org"
    database_url: str = "sqlite+aiosqlite:///./gongzhi.db"
    default_locale: str = "zh_Hans"
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"
    locales_dir: Path = ROOT / "locales"

    webhook_url: Optional[str] = None
    webhook_secret: Optional[SecretStr] = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080

    # The web pages (public page per community, staff Mini App): in polling mode served on
    # WEB_HOST:WEB_PORT when WEB_PORT is set; with --webhook beside the webhook. WEB_BASE_URL is
    # the public address people open (https for the Mini App button); WEBAPP_MAX_AGE how old
    # Telegram's init data may be, in seconds.
    web_host: str = "127.0.0.1"
    web_port: Optional[int] = None
    web_base_url: Optional[str] = None
    webapp_max_age: int = 3600

    # Machine translation of residents' free text: a LibreTranslate-compatible server, or none.
    translate_url: Optional[str] = None
    translate_key: Optional[SecretStr] = None

    # How often the scheduler sweeps due timers, and the delivery loop's idle poll.
    sweep_seconds: float = 30.0
    delivery_idle_seconds: float = 1.0

    @field_validator("bot_token", mode="before")
    @classmethod
    def _token(cls, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None or not str(text).strip():
            return None  # "not set", said by the command that needs it
        if not TOKEN.match(str(text).strip()):
            raise ValueError("BOT_TOKEN does not look like a token from @BotFather "
                             "(digits, a colon, then letters and digits, e.g. 123456:ABC-def)")
        return str(text).strip()

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"DATABASE_URL {value!r} is not a database URL "
                             "(e.g. sqlite+aiosqlite:///./gongzhi.db)") from None
        if url.drivername not in DRIVERS:
            raise ValueError(f"DATABASE_URL uses {url.drivername!r}; use sqlite+aiosqlite:///FILE "
                             "or postgresql+asyncpg://USER:PASSWORD@HOST/DB")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"TIMEZONE {value!r} is not a known time zone (e.g. Asia/Shanghai)") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"LOG_LEVEL {value!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("web_port", mode="before")
    @classmethod
    def _web_port(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            port = int(str(value).strip())
        except ValueError:
            raise ValueError(f"WEB_PORT {value!r} is not a port number (1-65535)") from None
        if not 0 <= port <= 65535:
            raise ValueError(f"WEB_PORT {value!r} is not a port number (1-65535)")
        return port

    @field_validator("web_base_url")
    @classmethod
    def _web_base_url(cls, value: Optional[str]) -> Optional[str]:
        if value is None or not value.strip():
            return None
        if not re.match(r"^https?://[^\s/]+", value.strip()):
            raise ValueError(f"WEB_BASE_URL {value!r} is not an http(s) address (e.g. https://gongzhi.example.org)")
        return value.strip().rstrip("/")

    @field_validator("webapp_max_age")
    @classmethod
    def _webapp_max_age(cls, value: int) -> int:
        if not 60 <= value <= 86400:
            raise ValueError(f"WEBAPP_MAX_AGE {value!r} must be between 60 and 86400 seconds")
        return value

    def web_address(self) -> str | None:
        """Where people open the pages: WEB_BASE_URL, else the local server's address."""
        if self.web_base_url:
            return self.web_base_url
        return f"http://{self.web_host}:{self.web_port}" if self.web_port else None

    @model_validator(mode="after")
    def _locale(self) -> "Settings":
        shipped = shipped_locales(self.locales_dir)
        if self.default_locale not in shipped:
            raise ValueError(f"DEFAULT_LOCALE {self.default_locale!r} is not one of the shipped languages: "
                             + ", ".join(shipped))
        return self
