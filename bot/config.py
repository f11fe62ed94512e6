"""Settings from `CRAMPCHECK_*` environment variables (and `.env`); the only place config is read.

`load_settings()` turns pydantic's validation errors into one-line `ConfigError`s that name the
environment variable and never echo a value, so a token can never reach a terminal or a log.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.engine.errors import BotError

ENV_PREFIX = "CRAMPCHECK_"
# setWebhook.secret_token: "1-256 characters. Only characters A-Z, a-z, 0-9, _ and - are allowed."
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ConfigError(BotError):
    """The settings are invalid; the message is one line naming the variable, never a value."""


def default_store_url() -> str:
    """Return the default store: a SQLite file in the user's data directory."""
    path = Path(user_data_dir("crampcheck")) / "sessions.db"
    return f"sqlite:///{path.as_posix()}"


class Settings(BaseSettings):
    """Everything the bot reads from its environment; repr never shows a secret."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
    )

    token: SecretStr | None = None
    api_url: str = "https://api.telegram.org/bot"
    """Bot API base URL; PTB appends the token (its `base_url` convention)."""
    store: str = Field(default_factory=default_store_url)
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    listen: str = "127.0.0.1"
    port: int = Field(default=8443, ge=1, le=65535)
    log_level: LogLevel = "INFO"
    log_format: Literal["text", "json"] = "text"
    """`json`: one JSON object per line (time, level, logger, message, extras)."""
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Serve /healthz and /metrics on LISTEN:METRICS_PORT; unset: no such server."""
    session_ttl: timedelta = Field(default=timedelta(hours=24), gt=timedelta(0))
    """Idle time after which a session is deleted: seconds, or an ISO 8601 duration."""
    knowledge: Path | None = None
    rate_limit_total: float = Field(default=28.0, ge=0)
    """Messages per second the bot sends at most (Telegram: about 30, less for jitter); 0: off."""
    rate_limit_chat: float = Field(default=1.0, ge=0)
    """New messages per second to one chat once its burst is spent (Telegram: about 1); 0: off.
    Edits count against RATE_LIMIT_TOTAL only."""
    rate_limit_chat_burst: int = Field(default=3, ge=1)
    """Messages one chat may get at once before RATE_LIMIT_CHAT paces it (its token bucket's size;
    Telegram: "we may allow short bursts")."""
    http: Literal["aiohttp", "httpx"] = "aiohttp"
    """Bot API transport: `aiohttp` (bot/telegram/api/transport.py, the fast one) or `httpx`
    (PTB's own)."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("session_ttl", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """Read a plain number as seconds (pydantic reads strings as durations only)."""
        if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
            return float(value)
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise PydanticCustomError(
                "webhook_secret", "must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme != "https":
            raise PydanticCustomError("webhook_url", "must be an https:// URL")
        return value

    @model_validator(mode="after")
    def _check_webhook(self) -> Settings:
        if self.mode == "webhook" and self.webhook_url is None:
            raise PydanticCustomError(
                "webhook", f"{ENV_PREFIX}WEBHOOK_URL is required when {ENV_PREFIX}MODE=webhook"
            )
        if self.mode == "webhook" and self.webhook_secret is None:
            raise PydanticCustomError(
                "webhook", f"{ENV_PREFIX}WEBHOOK_SECRET is required when {ENV_PREFIX}MODE=webhook"
            )
        if self.mode == "webhook" and self.metrics_port == self.port:
            raise PydanticCustomError(
                "metrics_port", f"{ENV_PREFIX}METRICS_PORT must differ from {ENV_PREFIX}PORT"
            )
        return self

    @property
    def session_ttl_seconds(self) -> float:
        return self.session_ttl.total_seconds()

    @property
    def webhook_path(self) -> str:
        """Return the path part of the webhook URL, where the local server listens."""
        return urlsplit(self.webhook_url or "").path.lstrip("/")


def load_settings(**values: Any) -> Settings:
    """Read the settings (explicit `values` win over the environment); raise ConfigError."""
    try:
        return Settings(**values)
    except ValidationError as error:
        raise ConfigError(describe(error)) from None


def describe(error: ValidationError) -> str:
    """Return one line naming each failing variable and why, without any input value."""
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        field = "_".join(str(part) for part in item["loc"][:1])
        message = item["msg"].replace("\n", " ")
        parts.append(f"{ENV_PREFIX}{field.upper()}: {message}" if field else message)
    return "; ".join(parts)
