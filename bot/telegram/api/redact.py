"""Keep the bot token and what users sent out of every log record, PTB's DEBUG output included.

At DEBUG, PTB logs the Bot API URL (which holds the token), the parameters and answer of every
call (updates hold what users typed) and webhook bodies; httpx logs request URLs at INFO.
`configure_logging` keeps those loggers quiet, but an operator or a test may turn them up.
`install_log_redaction(token)` puts a filter on every logger of PTB, httpx, httpcore and aiohttp
(where their records are created, since a parent's filter does not see a child's records) that
* replaces container and Telegram-object arguments of PTB's records (parameters, answers,
  updates) and the string arguments of its body-logging messages with `<redacted>`, keeping the
  method names and ids that make the logs useful;
* replaces the token, wherever it still appears in a message, with `<token>`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from telegram import TelegramObject

PREFIXES = ("telegram", "httpx", "httpcore", "aiohttp")
KNOWN = (
    "telegram",
    "telegram.Bot",
    "telegram.ext",
    "telegram.ext.ExtBot",
    "telegram.ext.Application",
    "telegram.ext.Updater",
    "telegram.request.BaseRequest",
    "telegram.request.HTTPXRequest",
    "httpx",
    "httpcore",
)
# PTB messages whose string argument is a request or response body, or a client's secret.
BODY_MESSAGES = frozenset(
    {
        "Webhook received data: %s",
        'Can not load invalid JSON data: "%s"',
        "Request had the wrong secret token: %s",
    }
)
REDACTED = "<redacted>"
_SCALARS = (int, float, bool, type(None))


class Redactor(logging.Filter):
    """Mask payloads in PTB's records and the registered secrets in every record it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("telegram") and record.args:
            record.args = _masked(record.args, is_body=record.msg in BODY_MESSAGES)
        if self.secrets:
            message = record.getMessage()
            scrubbed = message
            for secret in self.secrets:
                scrubbed = scrubbed.replace(secret, "<token>")
            if scrubbed != message:
                record.msg, record.args = scrubbed, ()
        return True


def _masked(
    args: tuple[object, ...] | Mapping[str, object], *, is_body: bool
) -> tuple[object, ...] | Mapping[str, object]:
    if isinstance(args, Mapping):
        return {name: _mask(value, is_body=is_body) for name, value in args.items()}
    return tuple(_mask(value, is_body=is_body) for value in args)


def _mask(value: object, *, is_body: bool) -> object:
    """Keep numbers and short names (method names, ids); mask bodies and structures."""
    if isinstance(value, _SCALARS) or (isinstance(value, str) and not is_body):
        return value
    if isinstance(value, BaseException):
        return value  # PTB's own exception messages carry no payload
    if isinstance(value, list) and all(isinstance(item, int) for item in value):
        return value  # "Getting updates: [ids]"
    return REDACTED if not isinstance(value, TelegramObject) else f"<{type(value).__name__}>"


_REDACTOR = Redactor()


def install_log_redaction(*secrets: str) -> Redactor:
    """Filter the loggers of PTB, httpx, httpcore and aiohttp; mask `secrets` (the token)."""
    _REDACTOR.secrets.update(secret for secret in secrets if secret)
    existing = [name for name in logging.Logger.manager.loggerDict if name.startswith(PREFIXES)]
    for name in {*KNOWN, *existing}:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)
    return _REDACTOR
