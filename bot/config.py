"""Settings from the environment or a `.env` file (never committed)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


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

    # Machine translation of residents' free text: a LibreTranslate-compatible server, or none.
    translate_url: Optional[str] = None
    translate_key: Optional[SecretStr] = None

    # How often the scheduler sweeps due timers, and the delivery loop's idle poll.
    sweep_seconds: float = 30.0
    delivery_idle_seconds: float = 1.0
