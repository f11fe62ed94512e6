"""An in-process fake of the Telegram Bot API: a PTB ``BaseRequest`` that never opens a socket.

``FakeBotApi`` sits where PTB's HTTP client would. It records every call with its parameters as
they would go on the wire and checks each call against the Bot API spec
(``<repo>/../shared/telegram/api.json``, present in CI only) plus built-in checks that always run.
It keeps what the user currently sees per message and answers like the real server, including the
real 400 errors that PTB turns into ``telegram.error.BadRequest``.

A call the real server would refuse (missing parameter, text too long, 65-byte callback data, bad
keyboard, unknown method) records a ``BotApiViolation`` *and* returns the server's error. A mistake
the real server silently ignores (an unknown parameter) records a violation and succeeds. Tests
call ``assert_clean()`` (typically in fixture teardown) so that violations swallowed by an error
handler still fail the test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

import pytest
from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

REPO_ROOT = Path(__file__).absolute().parents[2]
SPEC_PATH = REPO_ROOT.parent / "shared" / "telegram" / "api.json"

# Limits, quoted from the spec (api.json). test_fakes pins these quotes against the spec file.
# sendMessage.text: "Text of the message to be sent, 1-4096 characters after entities parsing"
MESSAGE_TEXT_MAX = 4096
# InlineKeyboardButton.callback_data: "Data to be sent in a callback query ..., 1-64 bytes"
CALLBACK_DATA_MAX_BYTES = 64
# answerCallbackQuery.text: "Text of the notification. ..., 0-200 characters."
CALLBACK_ANSWER_MAX = 200
# BotCommand.command: "Text of the command; 1-32 characters. Can contain only lowercase English
# letters, digits and underscores."
COMMAND_PATTERN = re.compile(r"[a-z0-9_]{1,32}")
# BotCommand.description: "Description of the command; 1-256 characters"
COMMAND_DESCRIPTION_MAX = 256
# setMyCommands.commands: "At most 100 commands can be specified."
COMMANDS_MAX = 100
# InlineKeyboardButton: "Exactly one of the fields other than text, icon_custom_emoji_id, and
# style must be used to specify the type of the button."
BUTTON_DECORATIONS = frozenset({"text", "icon_custom_emoji_id", "style"})
# Used when the spec is absent: the action fields of InlineKeyboardButton in Bot API 10.1.
BUILTIN_BUTTON_ACTIONS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
# Used when the spec is absent: parameters that travel as JSON-serialized objects.
BUILTIN_JSON_FIELDS = frozenset(
    {"reply_markup", "entities", "commands", "scope", "allowed_updates", "reply_parameters"}
)
PRIMITIVE_TYPES = frozenset({"String", "Integer", "Boolean", "Float", "InputFile"})
MARKUP_KINDS = {
    "inline_keyboard": "InlineKeyboardMarkup",
    "keyboard": "ReplyKeyboardMarkup",
    "remove_keyboard": "ReplyKeyboardRemove",
    "force_reply": "ForceReply",
}
# Real server wording, so tests can match what production logs would show.
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
BAD_MARKUP = "Bad Request: can't parse reply keyboard markup JSON object"
ALWAYS_TRUE = frozenset(
    {"sendChatAction", "deleteWebhook", "setMyDescription", "setMyShortDescription", "close"}
)


class BotApiViolation(AssertionError):
    """A call the Bot API spec or its documented limits do not allow."""

    def __init__(self, method: str, detail: str) -> None:
        super().__init__(f"{method}: {detail}")
        self.method = method
        self.detail = detail


class ApiError(Exception):
    """Raised inside a handler to answer with the real server's error JSON."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


@dataclass(frozen=True)
class Call:
    """One recorded request: the Bot API method and its decoded wire parameters."""

    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class SentMessage:
    """What the user currently sees of one bot message."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None
    entities: list[dict[str, Any]] = field(default_factory=list)
    date: int = 0
    edit_date: int | None = None
    seq: int = 0  # global order of sends and edits, so "latest" is well defined


@dataclass(frozen=True)
class Fault:
    """One queued failure for ``fail_next``."""

    status: int | Literal["timeout"]
    retry_after: int
    description: str | None


@dataclass
class _Verdict:
    """Violations found in one call and the error the real server would answer with."""

    method: str
    violations: list[BotApiViolation] = field(default_factory=list)
    error: ApiError | None = None

    def flag(self, detail: str, *, reject: str | None = None, status: int = 400) -> None:
        self.violations.append(BotApiViolation(self.method, detail))
        if reject is not None and self.error is None:
            self.error = ApiError(status, reject)


class BotApiSpec:
    """The machine-readable Bot API description (methods, fields, types)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.version: str = data.get("version", "?")
        self.methods: dict[str, Any] = data["methods"]
        self.types: dict[str, Any] = data["types"]

    @classmethod
    def load(cls, path: Path) -> BotApiSpec | None:
        """Load the spec, or return None when the file is absent (a user's fresh clone)."""
        if not path.is_file():
            return None
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def fields(self, method: str) -> dict[str, dict[str, Any]]:
        return {f["name"]: f for f in self.methods[method].get("fields", [])}

    def type_fields(self, type_name: str) -> set[str]:
        return {f["name"] for f in self.types[type_name]["fields"]}


class _TelegramHtml(HTMLParser):
    """Telegram's HTML parse mode: supported tags become entities, anything else is an error."""

    TAGS: dict[str, str] = {  # noqa: RUF012 - read-only lookup table
        "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
        "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
        "del": "strikethrough", "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link",
        "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-emoji": "custom_emoji",
    }  # fmt: skip
    NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}  # noqa: RUF012 - lookup table

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.stack: list[tuple[str, int, dict[str, Any] | None]] = []
        self.entities: list[dict[str, Any]] = []

    def position(self) -> int:
        return utf16_len("".join(self.out))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        kind = self.TAGS.get(tag)
        if kind is None or (tag == "span" and attributes.get("class") != "tg-spoiler"):
            raise ValueError(f'Unsupported start tag "{tag}"')
        entity: dict[str, Any] | None = {"type": kind}
        if tag == "a":
            entity = {"type": kind, "url": attributes.get("href") or ""}
        elif tag == "tg-emoji":
            entity = {"type": kind, "custom_emoji_id": attributes.get("emoji-id") or ""}
        elif tag == "blockquote" and "expandable" in attributes:
            entity = {"type": "expandable_blockquote"}
        elif tag == "code" and self.stack and self.stack[-1][0] == "pre":
            language = (attributes.get("class") or "").removeprefix("language-")
            if language and self.stack[-1][2] is not None:
                self.stack[-1][2]["language"] = language
            entity = None  # <pre><code> is one pre entity, not two
        self.stack.append((tag, self.position(), entity))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise ValueError(f'Unsupported start tag "{tag}"')

    def handle_comment(self, data: str) -> None:
        raise ValueError('Unsupported start tag "!--"')  # Telegram has no HTML comments

    def handle_decl(self, decl: str) -> None:
        raise ValueError(f'Unsupported start tag "!{decl}"')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            raise ValueError(f'Unmatched end tag "{tag}"')
        _, start, entity = self.stack.pop()
        length = self.position() - start
        if entity is not None and length > 0:
            self.entities.append({**entity, "offset": start, "length": length})

    def handle_data(self, data: str) -> None:
        if "<" in data:
            raise ValueError('Unexpected end of name token: escape "<" as &lt;')
        self.out.append(data)

    def handle_entityref(self, name: str) -> None:
        self.out.append(self.NAMED.get(name, f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.out.append(chr(int(name[1:], 16) if name[:1] in "xX" else int(name)))


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def render_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Return the text and entities the server would store; ValueError when HTML is malformed.

    Only HTML is parsed; Markdown and MarkdownV2 text is stored as sent (a known simplification).
    """
    if entities is not None or (parse_mode or "").lower() != "html":
        return text, list(entities or [])
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{parser.stack[-1][0]}"')
    ordered = sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))
    return "".join(parser.out), ordered


def forbid_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any outgoing socket connection in this test raise instead of reaching a network."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"real network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


class FakeBotApi(BaseRequest):
    """Answer PTB's requests in process, record them, and check them against the Bot API."""

    def __init__(
        self, *, spec_path: Path = SPEC_PATH, bot_username: str = "crampcheck_bot"
    ) -> None:
        self.spec = BotApiSpec.load(spec_path)
        self.spec_path = spec_path
        self.bot_username = bot_username
        self.bot_id = 0  # taken from the token in the first request URL
        self.calls: list[Call] = []
        self.violations: list[BotApiViolation] = []
        self.messages: dict[tuple[int, int], SentMessage] = {}
        self.chats: dict[int, dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook_url = ""
        self.answered_callback_queries: list[str] = []
        self.pinned: defaultdict[int, list[int]] = defaultdict(list)
        """Per chat, the ids of the pinned messages, the most recently pinned last."""
        self._open_callback_queries: set[str] = set()
        self._faults: defaultdict[str, deque[Fault]] = defaultdict(deque)
        self._updates: deque[dict[str, Any]] = deque()
        self._message_ids: defaultdict[int, itertools.count[int]] = defaultdict(
            lambda: itertools.count(1)
        )
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": lambda _: self.bot_user,
            "logOut": lambda _: True,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message,
            "editMessageReplyMarkup": self._edit_message,
            "deleteMessage": self._delete_message,
            "pinChatMessage": self._pin_chat_message,
            "unpinChatMessage": self._unpin_chat_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": lambda p: self.commands.get(self._commands_key(p), []),
            "deleteMyCommands": self._delete_my_commands,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
        } | {name: lambda _: True for name in ALWAYS_TRUE}

    # --- public helpers -------------------------------------------------------------------------

    @property
    def has_spec(self) -> bool:
        return self.spec is not None

    @property
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id or 123,
            "is_bot": True,
            "first_name": "CrampCheck",
            "username": self.bot_username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def last(self, method: str) -> Call:
        """Return the latest call to ``method``; AssertionError when there was none."""
        matching = self.calls_to(method)
        if not matching:
            seen = sorted({call.method for call in self.calls})
            raise AssertionError(f"no {method} call recorded; calls so far: {seen}")
        return matching[-1]

    def clear(self) -> None:
        """Forget recorded calls and violations (message state and chats are kept)."""
        self.calls.clear()
        self.violations.clear()

    def assert_clean(self) -> None:
        """Raise ``BotApiViolation`` listing every violation recorded so far."""
        if self.violations:
            lines = "\n".join(f"  - {violation}" for violation in self.violations)
            raise BotApiViolation("*", f"{len(self.violations)} Bot API violation(s):\n{lines}")

    def fail_next(
        self,
        method: str,
        *,
        status: int | Literal["timeout"] = 500,
        retry_after: int = 1,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail: HTTP ``status`` or a timeout."""
        self._faults[method].extend([Fault(status, retry_after, description)] * times)

    def clear_faults(self) -> None:
        """Let every call through again (the outage is over)."""
        self._faults.clear()

    def register_chat(self, chat_id: int, *, first_name: str, username: str | None = None) -> None:
        chat = {"id": chat_id, "type": "private", "first_name": first_name}
        self.chats[chat_id] = chat | ({"username": username} if username else {})

    def chat(self, chat_id: int) -> dict[str, Any]:
        return self.chats.get(chat_id, {"id": chat_id, "type": "private", "first_name": "Test"})

    def next_message_id(self, chat_id: int) -> int:
        """Allocate a message id; users and the bot share one sequence per private chat."""
        return next(self._message_ids[chat_id])

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def new_callback_query_id(self) -> str:
        """Issue a callback query id that ``answerCallbackQuery`` will accept exactly once."""
        query_id = f"cbq{next(self._query_ids)}"
        self._open_callback_queries.add(query_id)
        return query_id

    def queue_update(self, update: dict[str, Any]) -> None:
        """Queue a raw update dict for ``getUpdates`` (polling tests)."""
        self._updates.append(update)

    def latest_message(self, chat_id: int, *, with_keyboard: bool = False) -> SentMessage | None:
        """Return the bot message in ``chat_id`` sent or edited last (optionally with buttons)."""
        candidates = [
            sent
            for sent in self.messages.values()
            if sent.chat_id == chat_id and (sent.reply_markup or not with_keyboard)
        ]
        return max(candidates, key=lambda sent: sent.seq, default=None)

    def message_json(self, sent: SentMessage) -> dict[str, Any]:
        """Return ``sent`` as the Message JSON the server would return for it now."""
        data: dict[str, Any] = {
            "message_id": sent.message_id,
            "from": self.bot_user,
            "chat": self.chat(sent.chat_id),
            "date": sent.date,
            "text": sent.text,
        }
        if sent.edit_date is not None:
            data["edit_date"] = sent.edit_date
        if sent.entities:
            data["entities"] = sent.entities
        if sent.reply_markup is not None:
            data["reply_markup"] = sent.reply_markup
        return data

    # --- BaseRequest ----------------------------------------------------------------------------

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        """Nothing to open: there is no connection pool."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Record, check and answer one Bot API request without any I/O."""
        api_method = url.rstrip("/").rsplit("/", 1)[-1]
        if token_id := re.search(r"/bot(\d+):[^/]*/[^/]+$", url):
            self.bot_id = self.bot_id or int(token_id.group(1))
        verdict = _Verdict(api_method)
        params = self._decode(api_method, request_data, verdict)
        self.calls.append(Call(api_method, params))
        self._check(api_method, params, verdict)
        self.violations.extend(verdict.violations)
        if self._faults[api_method]:
            return self._fault(self._faults[api_method].popleft())
        if verdict.error is not None:
            return _error(verdict.error)
        try:
            result = self._handlers[api_method](params)
        except ApiError as error:
            return _error(error)
        except KeyError as missing:  # only reachable without the spec, which checks it first
            self.violations.append(BotApiViolation(api_method, f"parameter {missing} missing"))
            return _error(ApiError(400, f"Bad Request: {missing.args[0]} is empty"))
        if api_method == "getUpdates" and not result:
            await asyncio.sleep(0.01)  # a long poll that returns empty, without busy-looping
        return 200, json.dumps({"ok": True, "result": result}).encode()

    # --- checks ---------------------------------------------------------------------------------

    def _decode(
        self, method: str, request_data: RequestData | None, verdict: _Verdict
    ) -> dict[str, Any]:
        """Return parameters as the server decodes them: JSON-typed strings are parsed."""
        raw = dict(request_data.parameters) if request_data is not None else {}
        if self.spec is not None and method in self.spec.methods:
            json_fields = {
                name
                for name, spec_field in self.spec.fields(method).items()
                if not set(spec_field["types"]) <= PRIMITIVE_TYPES
            }
        else:
            json_fields = set(BUILTIN_JSON_FIELDS)
        for name in json_fields & raw.keys():
            value = raw[name]
            if isinstance(value, str):
                try:
                    raw[name] = json.loads(value)
                except ValueError:
                    reject = (
                        BAD_MARKUP
                        if name == "reply_markup"
                        else f"Bad Request: can't parse {name} JSON object"
                    )
                    verdict.flag(f"{name} is not valid JSON: {value[:60]!r}", reject=reject)
        return raw

    def _check(self, method: str, params: dict[str, Any], verdict: _Verdict) -> None:
        if self.spec is not None and not self._check_spec(method, params, verdict):
            return
        if method not in self._handlers:
            verdict.flag(
                "not simulated by FakeBotApi; add a handler if the bot really needs it",
                reject=f"Bad Request: {method} is not simulated by FakeBotApi",
            )
            return
        if method in ("sendMessage", "editMessageText"):
            _check_message_text(params, verdict)
        if "reply_markup" in params:
            self._check_markup(method, params["reply_markup"], verdict)
        if method == "answerCallbackQuery":
            _check_callback_answer(params, verdict)
        if method == "setMyCommands":
            _check_commands(params.get("commands"), verdict)

    def _check_spec(self, method: str, params: dict[str, Any], verdict: _Verdict) -> bool:
        """Check existence, required and unknown parameters; False if the method is unknown."""
        assert self.spec is not None
        if method not in self.spec.methods:
            verdict.flag(
                f"no such method in Bot API {self.spec.version}", reject="Not Found", status=404
            )
            return False
        fields = self.spec.fields(method)
        for name, spec_field in fields.items():
            if spec_field["required"] and name not in params:
                reject = "message text is empty" if name == "text" else f"{name} is empty"
                verdict.flag(
                    f"required parameter {name!r} missing", reject=f"Bad Request: {reject}"
                )
        for name in sorted(params.keys() - fields.keys()):
            # The real server ignores unknown parameters, so this only records a violation.
            verdict.flag(f"parameter {name!r} is not in the spec")
        return True

    def _check_markup(self, method: str, markup: object, verdict: _Verdict) -> None:
        kinds = [key for key in MARKUP_KINDS if isinstance(markup, dict) and key in markup]
        if len(kinds) != 1:
            verdict.flag(
                f"reply_markup is not a keyboard object: {markup!r:.80}", reject=BAD_MARKUP
            )
            return
        allowed = self._markup_types(method)
        if MARKUP_KINDS[kinds[0]] not in allowed:
            verdict.flag(f"{MARKUP_KINDS[kinds[0]]} is not allowed here", reject=BAD_MARKUP)
        elif kinds[0] == "inline_keyboard":
            assert isinstance(markup, dict)
            _check_inline_keyboard(markup["inline_keyboard"], self._button_actions(), verdict)

    def _markup_types(self, method: str) -> set[str]:
        if self.spec is not None:
            return set(self.spec.fields(method).get("reply_markup", {}).get("types", []))
        if method.startswith("edit"):
            return {"InlineKeyboardMarkup"}
        return set(MARKUP_KINDS.values())

    def _button_actions(self) -> frozenset[str]:
        if self.spec is None:
            return BUILTIN_BUTTON_ACTIONS
        return frozenset(self.spec.type_fields("InlineKeyboardButton") - BUTTON_DECORATIONS)

    # --- simulated methods ----------------------------------------------------------------------

    def _fault(self, fault: Fault) -> tuple[int, bytes]:
        if fault.status == "timeout":
            raise TimedOut
        if fault.status == 429:
            text = fault.description or f"Too Many Requests: retry after {fault.retry_after}"
            body = {"ok": False, "error_code": 429, "description": text}
            body["parameters"] = {"retry_after": fault.retry_after}
            return 429, json.dumps(body).encode()
        return _error(ApiError(fault.status, fault.description or "Internal Server Error"))

    def _store(
        self,
        chat_id: int,
        message_id: int,
        params: dict[str, Any],
        *,
        seq: int | None = None,
        **extra: Any,
    ) -> SentMessage:
        text, entities = render_text(
            params["text"], params.get("parse_mode"), params.get("entities")
        )
        markup = params.get("reply_markup")
        inline = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        seq = next(self._seq) if seq is None else seq
        sent = SentMessage(chat_id, message_id, text, inline, entities, seq=seq, **extra)
        self.messages[chat_id, message_id] = sent
        return sent

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        sent = self._store(chat_id, self.next_message_id(chat_id), params, date=int(time.time()))
        return self.message_json(sent)

    def _edit_message(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if "inline_message_id" in params:
            return True  # inline messages are not tracked; the server answers True for them
        if "chat_id" not in params or "message_id" not in params:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        key = (_chat_id(params), int(params["message_id"]))
        current = self.messages.get(key)
        if current is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        # editMessageReplyMarkup keeps the text; an edit without reply_markup drops the keyboard.
        kept = {"text": current.text, "entities": current.entities}
        edit = params if "text" in params else kept | params
        text, entities = render_text(edit["text"], edit.get("parse_mode"), edit.get("entities"))
        markup = params.get("reply_markup")
        if (text, entities, markup) == (current.text, current.entities, current.reply_markup):
            raise ApiError(400, NOT_MODIFIED)
        date = current.date
        # Taking the buttons off an older message (editMessageReplyMarkup) changes nothing the
        # user reads: it does not make that message the latest one.
        seq = None if "text" in params else current.seq
        stored = self._store(*key, edit, seq=seq, date=date, edit_date=int(time.time()))
        return self.message_json(stored)

    def _delete_message(self, params: dict[str, Any]) -> bool:
        chat_id, message_id = _chat_id(params), int(params["message_id"])
        if self.messages.pop((chat_id, message_id), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        if message_id in self.pinned[chat_id]:  # a deleted message is no longer pinned
            self.pinned[chat_id].remove(message_id)
        return True

    def _pin_chat_message(self, params: dict[str, Any]) -> bool:
        chat_id, message_id = _chat_id(params), int(params["message_id"])
        if (chat_id, message_id) not in self.messages:
            raise ApiError(400, "Bad Request: message to pin not found")
        pinned = self.pinned[chat_id]
        if message_id in pinned:
            pinned.remove(message_id)
        pinned.append(message_id)
        return True

    def _unpin_chat_message(self, params: dict[str, Any]) -> bool:
        """Unpin `message_id`, or without it the most recently pinned message."""
        pinned = self.pinned[_chat_id(params)]
        if "message_id" not in params:
            if pinned:
                pinned.pop()
            return True
        message_id = int(params["message_id"])
        if message_id in pinned:
            pinned.remove(message_id)
        return True

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params["callback_query_id"])
        if query_id not in self._open_callback_queries:
            self.violations.append(
                BotApiViolation("answerCallbackQuery", f"unknown or already answered {query_id!r}")
            )
            raise ApiError(400, QUERY_INVALID)
        self._open_callback_queries.discard(query_id)
        self.answered_callback_queries.append(query_id)
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands[self._commands_key(params)] = list(params["commands"])
        return True

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = str(params["url"])
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        pending = 0 if self.webhook_url else len(self._updates)
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": pending,
        }

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0))
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()  # a higher offset confirms earlier updates
        return list(self._updates)[: int(params.get("limit", 100))]


def _error(error: ApiError) -> tuple[int, bytes]:
    body = {"ok": False, "error_code": error.status, "description": error.description}
    return error.status, json.dumps(body).encode()


def _chat_id(params: dict[str, Any]) -> int:
    try:
        return int(params["chat_id"])
    except ValueError:
        raise ApiError(400, "Bad Request: chat not found") from None  # no @username for users


def _check_message_text(params: dict[str, Any], verdict: _Verdict) -> None:
    if not isinstance(params.get("text"), str):
        return  # a missing text is reported by the spec check or by the edit itself
    try:
        text, _ = render_text(params["text"], params.get("parse_mode"), params.get("entities"))
    except ValueError as error:
        verdict.flag(
            f"unparsable HTML: {error}", reject=f"Bad Request: can't parse entities: {error}"
        )
        return
    if not text.strip():
        verdict.flag(
            "text is empty after entity parsing", reject="Bad Request: message text is empty"
        )
    elif len(text) > MESSAGE_TEXT_MAX:
        verdict.flag(
            f"text is {len(text)} characters (limit {MESSAGE_TEXT_MAX})",
            reject="Bad Request: message is too long",
        )


def _check_inline_keyboard(rows: object, actions: frozenset[str], verdict: _Verdict) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        verdict.flag("inline_keyboard must be a list of rows (lists)", reject=BAD_MARKUP)
        return
    for row_index, row in enumerate(rows):
        for column, button in enumerate(row):
            where = f"button [{row_index}][{column}]"
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                verdict.flag(f"{where} has no text", reject="Bad Request: BUTTON_TYPE_INVALID")
                continue
            chosen = sorted(actions & button.keys())
            if len(chosen) != 1:
                verdict.flag(
                    f"{where} needs exactly one action field, has {chosen}", reject=BAD_MARKUP
                )
            if unknown := sorted(button.keys() - actions - BUTTON_DECORATIONS):
                verdict.flag(f"{where} has unknown fields {unknown}")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_MAX_BYTES:
                size = len(str(data).encode())
                verdict.flag(
                    f"{where} callback_data is {size} bytes (limit 1-{CALLBACK_DATA_MAX_BYTES})",
                    reject="Bad Request: BUTTON_DATA_INVALID",
                )


def _check_callback_answer(params: dict[str, Any], verdict: _Verdict) -> None:
    text = params.get("text")
    if isinstance(text, str) and len(text) > CALLBACK_ANSWER_MAX:
        verdict.flag(
            f"notification text is {len(text)} characters (limit {CALLBACK_ANSWER_MAX})",
            reject="Bad Request: MESSAGE_TOO_LONG",
        )


def _check_commands(commands: object, verdict: _Verdict) -> None:
    if not isinstance(commands, list) or len(commands) > COMMANDS_MAX:
        verdict.flag(
            f"commands must be a list of at most {COMMANDS_MAX}",
            reject="Bad Request: too many commands",
        )
        return
    for item in commands:
        command = item.get("command") if isinstance(item, dict) else None
        description = item.get("description") if isinstance(item, dict) else None
        if not isinstance(command, str) or not COMMAND_PATTERN.fullmatch(command):
            verdict.flag(f"bad command {command!r}", reject="Bad Request: BOT_COMMAND_INVALID")
        if (
            not isinstance(description, str)
            or not 1 <= len(description) <= COMMAND_DESCRIPTION_MAX
        ):
            verdict.flag(
                f"bad description for {command!r}",
                reject="Bad Request: command description is invalid",
            )
