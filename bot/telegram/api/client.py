"""`CrampBot`: PTB's `ExtBot` with a defensive getUpdates and an edit that ignores Telegram's echo.

* `get_updates` parses each update on its own (`intake.parse_update`): an update PTB cannot parse,
  or one that breaks what the handlers rely on, becomes an empty update with its id, instead of
  failing the whole batch again and again (which would stop the bot). PTB's own `get_updates`
  parses the batch in one go and raises on the first bad update.
* `edit_text` edits a message's text and keyboard and returns nothing, and `send_text` sends one
  and returns its id only: PTB's `edit_message_text` and `send_message` build a `Message`
  (keyboard included) from the copy Telegram sends back, which the bot never reads; on a button
  press that was 6 % of the CPU (docs/performance.md). Both take a keyboard as a PTB object or
  as JSON text (`keyboards.KeyboardJson`), which PTB sends as it is.
* These two and a plain `answer_callback_query` (an id, maybe a text: every answer the bot
  gives) hand their parameters to the request chain directly (`_call`), not through
  `Bot._post`'s general machinery.
* A button press is answered once: `answer_callback_query` remembers the last `ANSWERED` ids it
  answered and answers none of them again (an update retried after a passing failure would
  otherwise answer a second time, which Telegram refuses). An answer that still fails after
  the request chain's retries is logged by type and dropped: it never fails the update.
All send exactly the calls PTB's methods send (tests/telegram/api/test_client.py).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram._utils.types import JSONDict, ODVInput, TimePeriod  # Bot's types: no public names
from telegram.error import BadRequest, TelegramError
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

# RequestData is made of these (as `Bot._post` makes it); PTB has no public way to build one.
from telegram.request._requestparameter import RequestParameter

from bot.telegram.api.intake import parse_update, update_id_of

logger = logging.getLogger(__name__)

Plain = dict[str, int | str | None]
"""Parameters that are ints and strings only (None: left out), which `CrampBot._call` takes."""
ANSWERED = 4096
"""Callback query ids remembered as answered (a press is answered within seconds)."""


class CrampBot(ExtBot[None]):
    """The bot the application runs on (`build_application` passes it to PTB's builder)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answered: OrderedDict[str, None] = OrderedDict()

    async def get_updates(
        self,
        offset: int | None = None,
        limit: int | None = None,
        timeout: TimePeriod | None = None,  # noqa: ASYNC109 - PTB's signature
        allowed_updates: Sequence[str] | None = None,
        *,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        api_kwargs: JSONDict | None = None,
    ) -> tuple[Update, ...]:
        """Return the pending updates, each parsed on its own (see the module docstring)."""
        data: JSONDict = {
            "timeout": timeout,
            "offset": offset,
            "limit": limit,
            "allowed_updates": allowed_updates,
        }
        # `_post`, as PTB's own get_updates: the public `do_api_request` does the same but warns
        # (PTBUserWarning) when called for a method that Bot has, as getUpdates is.
        result: Any = await self._post(
            "getUpdates",
            data,
            read_timeout=self._long_poll_timeout(read_timeout, timeout),
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
            api_kwargs=api_kwargs,
        )
        if not isinstance(result, list):
            logger.warning("getUpdates returned no list: ignored")
            return ()
        return tuple(self._parsed(item) for item in result if self._has_id(item))

    def _long_poll_timeout(
        self, read_timeout: ODVInput[float], timeout: TimePeriod | None
    ) -> float:
        """Return the read timeout plus the long poll's own wait, as PTB's `get_updates` does."""
        if isinstance(read_timeout, float | int):
            base = float(read_timeout)
        elif read_timeout is None:
            base = 0.0
        else:  # the default: the getUpdates request's own read timeout
            # PTB keeps that request in `_request[0]` (as its get_updates reads it) and has no
            # public name for it: `Bot.request` is the other calls' request.
            base = self._request[0].read_timeout or 0.0
        if timeout is None:
            return base
        wait = timeout if isinstance(timeout, int | float) else timeout.total_seconds()
        return base + wait

    @staticmethod
    def _has_id(item: object) -> bool:
        if update_id_of(item) is None:
            logger.warning("getUpdates returned an item without an update id: dropped")
            return False
        return True

    def _parsed(self, item: Any) -> Update:
        update = parse_update(item, self)
        self.insert_callback_data(update)  # as ExtBot.get_updates does (a no-op for us)
        return update

    async def edit_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        markup: InlineKeyboardMarkup | str | None,
    ) -> None:
        """Edit the text and keyboard of message `message_id`; ignore the message sent back."""
        data: Plain = {"chat_id": chat_id, "message_id": message_id, "text": text}
        await self._call("editMessageText", data | {"reply_markup": _markup_json(markup)})

    async def send_text(
        self, chat_id: int, text: str, *, markup: InlineKeyboardMarkup | str | None
    ) -> int:
        """Send `text` with `markup` to `chat_id`; return the new message's id."""
        data: Plain = {"chat_id": chat_id, "text": text, "reply_markup": _markup_json(markup)}
        result: Any = await self._call("sendMessage", data)
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if type(message_id) is not int:
            raise TelegramError("sendMessage answered without a message id")
        return message_id

    async def answer_callback_query(
        self,
        callback_query_id: str,
        text: str | None = None,
        show_alert: bool | None = None,
        url: str | None = None,
        cache_time: TimePeriod | None = None,
        *,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        api_kwargs: JSONDict | None = None,
        rate_limit_args: None = None,
    ) -> bool:
        """Answer a press once; the bot's own answers (an id, maybe a text) go by `_call`."""
        if callback_query_id in self._answered:
            logger.debug("callback query answered already: not again")
            return True
        try:
            answered = await self._answer(
                callback_query_id,
                text,
                show_alert,
                url,
                cache_time,
                timeouts=(read_timeout, write_timeout, connect_timeout, pool_timeout),
                api_kwargs=api_kwargs,
                rate_limit_args=rate_limit_args,
            )
        except TelegramError as error:
            # The press is applied; the spinner stops by itself. Failing the update for it
            # would retry all of it and hold the chat's next presses back behind the pauses.
            is_bug = isinstance(error, BadRequest)
            logger.log(
                logging.WARNING if is_bug else logging.INFO,
                "callback query not answered: %s",
                type(error).__name__,
            )
            return False
        self._answered[callback_query_id] = None
        while len(self._answered) > ANSWERED:
            self._answered.popitem(last=False)
        return answered

    async def _answer(
        self,
        callback_query_id: str,
        text: str | None,
        show_alert: bool | None,
        url: str | None,
        cache_time: TimePeriod | None,
        *,
        timeouts: tuple[ODVInput[float], ...],
        api_kwargs: JSONDict | None,
        rate_limit_args: None,
    ) -> bool:
        extras = (show_alert, url, cache_time, api_kwargs, rate_limit_args)
        is_plain = all(extra is None for extra in extras)
        if is_plain and all(timeout is BaseRequest.DEFAULT_NONE for timeout in timeouts):
            data: Plain = {"callback_query_id": callback_query_id, "text": text}
            return bool(await self._call("answerCallbackQuery", data))
        read_timeout, write_timeout, connect_timeout, pool_timeout = timeouts
        return await super().answer_callback_query(
            callback_query_id,
            text,
            show_alert,
            url,
            cache_time,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
            api_kwargs=api_kwargs,
            rate_limit_args=rate_limit_args,
        )

    async def _call(self, endpoint: str, parameters: Plain) -> Any:
        """Post plain parameters (None left out) through the request chain, as `_post` would.

        `_post` also fills in `Defaults` for the arguments left at DEFAULT_NONE (there are none
        here), turns objects, dates and files into parameters (these are ints and strings
        already) and asks PTB's rate limiter (the request chain paces the calls instead): 17 of
        the 38 us an edit cost before it reached the chain.
        """
        data = RequestData(
            [
                RequestParameter(name, value, None)
                for name, value in parameters.items()
                if value is not None
            ]
        )
        return await self.request.post(url=f"{self.base_url}/{endpoint}", request_data=data)


def _markup_json(markup: InlineKeyboardMarkup | str | None) -> str | None:
    """Return a keyboard as the Bot API's JSON text (PTB's own serialisation for an object)."""
    return markup.to_json() if isinstance(markup, InlineKeyboardMarkup) else markup
