"""Settings: CRAMPCHECK_* variables and .env; one-line errors that name the variable, no secret."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings
from bot.store import scheme_of

SECRET = "123456:SECRET-token-value"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CRAMPCHECK_* variable and no .env from the developer's shell leaks in."""
    for name in Settings.model_fields:
        monkeypatch.delenv(f"CRAMPCHECK_{name.upper()}", raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()

    assert settings.token is None
    assert settings.api_url == "https://api.telegram.org/bot"
    assert settings.mode == "polling"
    assert (settings.listen, settings.port) == ("127.0.0.1", 8443)
    assert settings.session_ttl == timedelta(hours=24)
    assert settings.log_level == "INFO"
    assert settings.knowledge is None
    assert settings.store.startswith("sqlite:///")
    assert settings.store.endswith("/crampcheck/sessions.db")
    assert scheme_of(settings.store) == "sqlite"
    # Telegram: about 30 messages/s in all; per chat a short burst, then about 1/s.
    assert (settings.rate_limit_total, settings.rate_limit_chat) == (28.0, 1.0)
    assert settings.rate_limit_chat_burst == 3


def test_values_come_from_crampcheck_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAMPCHECK_TOKEN", SECRET)
    monkeypatch.setenv("CRAMPCHECK_PORT", "9000")
    monkeypatch.setenv("CRAMPCHECK_STORE", "redis://:pw@cache:6379/0")
    monkeypatch.setenv("CRAMPCHECK_LOG_LEVEL", "debug")
    monkeypatch.setenv("CRAMPCHECK_SESSION_TTL", "3600")

    settings = load_settings()

    assert settings.token is not None
    assert settings.token.get_secret_value() == SECRET
    assert settings.port == 9000
    assert scheme_of(settings.store) == "redis"
    assert settings.log_level == "DEBUG"
    assert settings.session_ttl_seconds == 3600


def test_the_rate_limits_come_from_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAMPCHECK_RATE_LIMIT_TOTAL", "0")
    monkeypatch.setenv("CRAMPCHECK_RATE_LIMIT_CHAT", "0.5")
    monkeypatch.setenv("CRAMPCHECK_RATE_LIMIT_CHAT_BURST", "5")

    settings = load_settings()

    assert (settings.rate_limit_total, settings.rate_limit_chat) == (0.0, 0.5)
    assert settings.rate_limit_chat_burst == 5


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CRAMPCHECK_PORT=8888\nOTHER_TOOL=1\n", encoding="utf-8")

    assert load_settings().port == 8888


def test_session_ttl_accepts_an_iso_duration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAMPCHECK_SESSION_TTL", "PT2H")

    assert load_settings().session_ttl == timedelta(hours=2)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "not-a-port"),
        ("PORT", "70000"),
        ("MODE", "carrier-pigeon"),
        ("SESSION_TTL", "0"),
        ("LOG_LEVEL", "chatty"),
        ("WEBHOOK_URL", "http://insecure.example/hook"),
        ("RATE_LIMIT_CHAT", "-1"),
        ("RATE_LIMIT_CHAT_BURST", "0"),
        ("RATE_LIMIT_CHAT_BURST", "2.5"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("CRAMPCHECK_TOKEN", SECRET)
    monkeypatch.setenv(f"CRAMPCHECK_{name}", value)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert message.startswith(f"CRAMPCHECK_{name}: ")
    assert "\n" not in message
    assert SECRET not in message


def test_bad_port_message_reads_like_pydantic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAMPCHECK_PORT", "abc")

    with pytest.raises(ConfigError, match=r"^CRAMPCHECK_PORT: Input should be a valid integer"):
        load_settings()


def test_webhook_mode_requires_url_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAMPCHECK_MODE", "webhook")
    with pytest.raises(ConfigError, match="CRAMPCHECK_WEBHOOK_URL is required"):
        load_settings()

    monkeypatch.setenv("CRAMPCHECK_WEBHOOK_URL", "https://bot.example/hook/path")
    with pytest.raises(ConfigError, match="CRAMPCHECK_WEBHOOK_SECRET is required"):
        load_settings()

    monkeypatch.setenv("CRAMPCHECK_WEBHOOK_SECRET", "s3cret_-OK")
    settings = load_settings()
    assert settings.webhook_path == "hook/path"


@pytest.mark.parametrize("secret", ["has space", "ümlaut", "x" * 257, "semi;colon"])
def test_webhook_secret_outside_telegrams_charset_is_refused_without_echo(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("CRAMPCHECK_WEBHOOK_SECRET", secret)

    with pytest.raises(ConfigError, match=r"^CRAMPCHECK_WEBHOOK_SECRET: ") as caught:
        load_settings()

    assert secret not in str(caught.value)


def test_repr_never_shows_the_token_or_webhook_secret() -> None:
    settings = load_settings(token=SECRET, webhook_secret="hook-secret-value")

    assert SECRET not in repr(settings)
    assert "hook-secret-value" not in repr(settings)
    assert SECRET not in str(settings.model_dump())


def test_several_errors_stay_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAMPCHECK_PORT", "x")
    monkeypatch.setenv("CRAMPCHECK_MODE", "y")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert "\n" not in str(caught.value)
    assert "CRAMPCHECK_PORT" in str(caught.value)
    assert "CRAMPCHECK_MODE" in str(caught.value)
