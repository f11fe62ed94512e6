"""The summary button under a result: a compact, forwardable message to show a doctor.

`s:<revision>` sends the summary of the result drawn at that revision, in the conversation's
language, dated by the result message; a second button, "In English" (`s:<revision>:en:<epoch>`),
sends the same summary in English with the same time. The text is built by
`bot.render.questionnaire.summary_text`; a press on an old result only gets "that question has
moved on".
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from telegram import CallbackQuery, Update
from telegram.ext import ContextTypes

from bot.engine.errors import SessionOutdated
from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.machine import Result
from bot.render.questionnaire import summary_text
from bot.telegram.delivery import origin
from bot.telegram.features.questionnaire.keeper import ConversationKeeper
from bot.telegram.state.conversation import Conversation, ReplyButton
from bot.telegram.state.preferences import Preferences
from bot.telegram.ui.callbacks import SummaryRequest, decode_summary, encode_summary

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
ENGLISH = "en"
COMMIT_TRIES = 3
"""Reads and compare-and-sets of the record before the press is answered anyway."""


class SummaryHandlers:
    """The Summary and In English buttons."""

    def __init__(
        self, kb: KnowledgeBase, conversations: ConversationKeeper, preferences: Preferences
    ) -> None:
        self.kb = kb
        self.conversations = conversations
        self.preferences = preferences

    async def on_summary(self, update: Update, context: Context) -> None:
        """Owe the chat the summary of the result the button belongs to, then answer the press.

        The summary is kept in the record until it went out (`ConversationKeeper.reply`)."""
        query = await origin.private_query(update)
        if query is None:
            return
        key = origin.key(update)
        for _ in range(COMMIT_TRIES):
            try:
                stored = await self.conversations.get(key)
            except BaseException:
                await query.answer()  # stop the spinner; the error handler apologises
                raise
            conversation = stored.conversation
            request, result = self._find(conversation, query.data)
            if conversation is None or request is None or result is None:
                language = await self.preferences.language(update)
                await query.answer(
                    self.kb.text("moved_on" if conversation else "no_session", language)
                )
                return
            language = request.language or conversation.language
            when = _when(query, request)
            text = summary_text(self.kb, result, language, when)
            buttons = self._english_twin(request, language, when)
            if await self.conversations.reply(context.bot, key, stored, text, buttons=buttons):
                logger.info("summary owed in %s", key.render())
                await query.answer()
                return
        await query.answer()  # the record kept moving under us
        self.conversations.show(context.bot, key)

    def _english_twin(
        self, request: SummaryRequest, language: str, when: datetime
    ) -> tuple[ReplyButton, ...]:
        """Return the "In English" button under a first summary in another language."""
        if request.language is not None or language == ENGLISH:
            return ()
        again = SummaryRequest(request.revision, ENGLISH, int(when.timestamp()))
        label = self.kb.text("summary_in_english", language)
        return (ReplyButton(label=label, data=encode_summary(again)),)

    def _find(
        self, conversation: Conversation | None, data: object
    ) -> tuple[SummaryRequest | None, Result | None]:
        """Return the request and its result; None for either when stale, forged or gone."""
        try:
            request = decode_summary(data)
        except ValueError:
            return None, None
        if conversation is None or conversation.session.rev != request.revision:
            return request, None
        try:
            step = machine.current_step(self.kb, conversation.session)
        except SessionOutdated:
            return request, None
        return request, step if isinstance(step, Result) else None


def _when(query: CallbackQuery, request: SummaryRequest) -> datetime:
    """Return the time to show: the first summary's, else the result message's, else now."""
    if request.when is not None:
        return datetime.fromtimestamp(request.when, UTC)
    message = query.message
    if message is not None and message.date.timestamp() > 0:  # inaccessible ones are dated 0
        return message.date
    return datetime.now(UTC)
