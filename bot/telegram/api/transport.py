"""AiohttpRequest: PTB's BaseRequest on aiohttp, a drop-in for the httpx-based HTTPXRequest.

It serves several times more button presses per second than httpx, whose pool bookkeeping eats the
CPU, and keeps HTTPXRequest's observable behaviour:

* Wire: POST; each parameter JSON-encoded, as PTB gives them. Without files they go as one JSON
  object of those texts, which the Bot API reads as the form httpx sends (`_encode`), at a
  quarter of urlencode's cost; with files, as multipart laid out byte for byte like httpx's
  (FormData would type every field and percent-encode non-ASCII names). Redirects are not
  followed. HTTP/1.1 and keep-alive only.
* Timeouts (per call over the defaults; ``DEFAULT_NONE`` = default, ``None`` = no limit): ``pool``
  bounds the wait for our own semaphore, sized like the connector, so a full pool is told apart;
  ``connect`` is aiohttp's ``connect`` and ``sock_connect`` (DNS, TCP, TLS); ``read`` is
  ``sock_read``. aiohttp has no write timeout, so bodies over 64 KiB are fed to it in pieces and,
  as in httpx, each write (a field, an in-memory file, 64 KiB of a file handle) gets ``write``
  seconds (``media_write_timeout`` with files) to reach the socket.
* Errors: ``TimedOut`` (a full pool gets HTTPXRequest's message) or ``NetworkError`` naming the
  aiohttp error; the bot token in the URL never shows in messages or chained causes.
* ``proxy``: http:// or https:// URLs, credentials included. socks needs aiohttp-socks and is
  refused. Proxy environment variables are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiohttp
import yarl

# The types in BaseRequest's and RequestData's own signatures (a timeout not passed, an upload),
# which PTB gives no public names; DefaultValue is also HTTPXRequest's test for "not passed".
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import FieldTuple, ODVInput, UploadFileDict
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_LOGGER = logging.getLogger(__name__)

POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: All connections in the connection pool are occupied. Request was *not* sent "
    "to Telegram. Consider adjusting the connection pool size or the pool timeout."
)
SLICE_SIZE = 64 * 1024  # aiohttp's write buffer limit: a body this small is written at once
KEEPALIVE = 5.0  # httpx's keepalive_expiry: drop idle sockets before the server does
DNS_TTL = 60  # seconds aiohttp's DNS cache (on by default) keeps an answer
_HTML5_ESCAPES = {'"': "%22", "\\": "\\\\"} | {chr(c): f"%{c:02X}" for c in range(32) if c != 27}
_HTML5_PATTERN = re.compile("|".join(map(re.escape, _HTML5_ESCAPES)))


@dataclass(frozen=True, slots=True, kw_only=True)
class _Timeouts:
    read: float | None
    write: float | None
    connect: float | None
    pool: float | None


@dataclass(frozen=True, slots=True)
class _Body:
    parts: tuple[bytes, ...] = ()
    headers: dict[str, str] | None = None
    has_files: bool = False

    @property
    def is_sliced(self) -> bool:
        """Tell whether the body is written in timed slices: several parts, or a big one."""
        parts = self.parts
        return len(parts) > 1 or (bool(parts) and len(parts[0]) > SLICE_SIZE)


class AiohttpRequest(BaseRequest):
    """Send PTB's requests through one pooled ``aiohttp.ClientSession``.

    Arguments and defaults are HTTPXRequest's, with keyword-only timeouts; ``http_version``,
    ``socket_options`` and ``httpx_kwargs`` have no counterpart.
    """

    __slots__ = ("_pool_size", "_proxy", "_session", "_slots", "_timeouts", "_upload_timeout")

    def __init__(
        self,
        connection_pool_size: int = 256,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        proxy: str | None = None,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._proxy = _check_proxy(proxy)
        self._timeouts = _Timeouts(
            read=read_timeout, write=write_timeout, connect=connect_timeout, pool=pool_timeout
        )
        self._upload_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(connection_pool_size)

    @property
    def read_timeout(self) -> float | None:
        """Return the default read timeout in seconds."""
        return self._timeouts.read

    async def initialize(self) -> None:
        """Open the client session unless one is open already."""
        if self._session is None or self._session.closed:
            self._open_session()

    async def shutdown(self) -> None:
        """Close the client session and its connections; closing twice is a no-op."""
        if self._session is None or self._session.closed:
            _LOGGER.debug("AiohttpRequest is already shut down")
            return
        await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request and return its status and body; see ``BaseRequest.do_request``."""
        session = self._open_session() if self._session is None else self._session
        if session.closed:  # shut down: HTTPXRequest refuses too
            raise RuntimeError("This AiohttpRequest is not initialized!")
        slots, body = self._slots, _encode(request_data)
        limits = self._resolve(body, read_timeout, write_timeout, connect_timeout, pool_timeout)
        await _acquire(slots, limits.pool)
        try:
            if body.is_sliced:
                return await _send_sliced(session, body, limits, method=method, url=url)
            whole = body.parts[0] if body.parts else None  # written at once
            # Awaited here, not in a helper: every await level is passed again on each resume.
            async with _request(session, whole, body, limits, method=method, url=url) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from _visible_cause(err, url)
        except (aiohttp.ClientError, OSError) as err:
            raise _network_error(err, url) from _visible_cause(err, url)
        finally:
            slots.release()

    def _open_session(self) -> aiohttp.ClientSession:
        # A new session gets a new semaphore: the old one may be bound to another event loop.
        self._slots = asyncio.Semaphore(self._pool_size)
        size = self._pool_size
        connector = aiohttp.TCPConnector(
            limit=size, limit_per_host=size, ttl_dns_cache=DNS_TTL, keepalive_timeout=KEEPALIVE
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.USER_AGENT},
            proxy=self._proxy,
            cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets no cookies
        )
        _LOGGER.debug("AiohttpRequest opened a session with %d connections", self._pool_size)
        return self._session

    def _resolve(self, body: _Body, *timeouts: ODVInput[float]) -> _Timeouts:
        """Lay the per-call read, write, connect and pool timeouts over the defaults."""
        read, write, connect, pool = timeouts
        default = self._timeouts
        write_default = self._upload_timeout if body.has_files else default.write
        return _Timeouts(
            read=default.read if isinstance(read, DefaultValue) else read,
            write=write_default if isinstance(write, DefaultValue) else write,
            connect=default.connect if isinstance(connect, DefaultValue) else connect,
            pool=default.pool if isinstance(pool, DefaultValue) else pool,
        )


def _check_proxy(proxy: str | None) -> str | None:
    """Return the proxy URL if aiohttp can use it; never echo it, it may hold credentials."""
    scheme = urlsplit(proxy).scheme.lower() if proxy else "http"
    if scheme.startswith("socks"):
        raise ValueError(f"{scheme} proxies need aiohttp-socks: use http://, or HTTPXRequest")
    if scheme not in ("http", "https"):
        raise ValueError(f"AiohttpRequest takes http:// or https:// proxies, not {scheme!r}")
    return proxy


async def _acquire(slots: asyncio.Semaphore, pool_timeout: float | None) -> None:
    """Take a connection slot, waiting at most pool_timeout seconds for one."""
    if not slots.locked():  # a free slot: taken at once, no deadline to set up
        await slots.acquire()
        return
    try:
        async with asyncio.timeout(pool_timeout):
            await slots.acquire()
    except TimeoutError as err:
        raise TimedOut(POOL_TIMEOUT_MESSAGE) from err


async def _send_sliced(
    session: aiohttp.ClientSession, body: _Body, limits: _Timeouts, *, method: str, url: str
) -> tuple[int, bytes]:
    """Send a body written in timed slices (see `_stream`) and read the whole response."""
    async with asyncio.timeout(None) as write_deadline:
        sliced = _stream(body.parts, write_deadline, limits.write)
        async with _request(session, sliced, body, limits, method=method, url=url) as response:
            return response.status, await response.read()


def _request(
    session: aiohttp.ClientSession,
    data: bytes | AsyncIterator[memoryview] | None,
    body: _Body,
    limits: _Timeouts,
    *,
    method: str,
    url: str,
) -> contextlib.AbstractAsyncContextManager[aiohttp.ClientResponse]:
    """Return aiohttp's request for `data`, to enter with `async with`."""
    target = yarl.URL(url, encoded=True)  # send PTB's URL as is (it quotes file paths itself)
    return session.request(
        method,
        target,
        data=data,
        headers=body.headers,
        timeout=_client_timeout(limits.connect, limits.read),
        allow_redirects=False,
    )


@functools.lru_cache(maxsize=64)
def _client_timeout(connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    """Return aiohttp's timeouts for a connect and a read limit (a handful of pairs recur)."""
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect, sock_read=read)


async def _stream(
    parts: tuple[bytes, ...], deadline: asyncio.Timeout, write_timeout: float | None
) -> AsyncIterator[memoryview]:
    """Yield each part in slices; a part has write_timeout seconds to be written, as in httpx.

    Once an early response has ended the request, the deadline is exited: RuntimeError, ignored.
    """
    loop = asyncio.get_running_loop()
    for part in parts:
        with contextlib.suppress(RuntimeError):
            deadline.reschedule(None if write_timeout is None else loop.time() + write_timeout)
        for start in range(0, len(part), SLICE_SIZE):
            yield memoryview(part)[start : start + SLICE_SIZE]
    with contextlib.suppress(RuntimeError):
        deadline.reschedule(None)


def _encode(request_data: RequestData | None) -> _Body:
    """Encode the parameters: a JSON object of their JSON texts, or multipart with files.

    The Bot API server reads a JSON body's string values as the form values they stand for
    (td's HttpReader::parse_json_parameters), so this is the form httpx sends, written by
    json's C encoder instead of urlencode (a quarter of the cost). Multipart is httpx's.
    """
    if request_data is None:
        return _Body()
    params, files = request_data.json_parameters, request_data.multipart_data
    if files:
        return _multipart(params, files)
    if not params:
        return _Body()
    payload = json.dumps(params).encode()
    return _Body((payload,), _headers("application/json", (payload,)))


def _multipart(params: dict[str, str], files: UploadFileDict) -> _Body:
    """Lay out a multipart/form-data body: text fields first, then files, as httpx does."""
    boundary = secrets.token_hex(16)
    fields = [(name, "", [value.encode()], "") for name, value in params.items()]
    fields += [(name, *_read(file)) for name, file in files.items()]
    parts: list[bytes] = []
    for name, filename, content, mimetype in fields:
        disposition = f"form-data; {_form_param(key='name', value=name)}"
        if filename:
            disposition += f"; {_form_param(key='filename', value=filename)}"
        content_type = f"\r\nContent-Type: {mimetype}" if mimetype else ""
        head = f"--{boundary}\r\nContent-Disposition: {disposition}{content_type}\r\n\r\n"
        parts += [head.encode(), *content, b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    content_type = f"multipart/form-data; boundary={boundary}"
    return _Body(tuple(parts), _headers(content_type, parts), has_files=True)


def _read(file: FieldTuple) -> tuple[str, list[bytes], str]:
    """Split a file into httpx's writes: bytes whole, a handle from its start in 64 KiB reads."""
    filename, content, mimetype = file
    if isinstance(content, bytes):
        return filename, [content], mimetype
    with contextlib.suppress(OSError):  # io.UnsupportedOperation is an OSError
        content.seek(0)
    return filename, list(iter(functools.partial(content.read, SLICE_SIZE), b"")), mimetype


def _headers(content_type: str, parts: Sequence[bytes]) -> dict[str, str]:
    return {"Content-Type": content_type, "Content-Length": str(sum(map(len, parts)))}


def _form_param(*, key: str, value: str) -> str:
    escaped = _HTML5_PATTERN.sub(lambda match: _HTML5_ESCAPES[match.group(0)], value)
    return f'{key}="{escaped}"'


def _network_error(err: BaseException, url: str) -> NetworkError:
    detail = _redact(str(err), url)
    name = f"{type(err).__module__.partition('.')[0]}.{type(err).__name__}"
    return NetworkError(f"{name}: {detail}" if detail else name)


def _visible_cause(err: BaseException, url: str) -> BaseException | None:
    """Return err to chain from, or None when it or a cause would print the token."""
    current: BaseException | None = err
    seen = set[int]()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _redact(text := f"{current!s}{current!r}", url) != text:
            return None  # the message already carries the redacted detail
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return err


def _redact(text: str, url: str) -> str:
    """Mask the path before the method (or file) name, raw and decoded, and its colon segments."""
    prefix = urlsplit(url).path.rpartition("/")[0]
    for path in {prefix, unquote(prefix)} - {""}:
        for secret in [path, *(part for part in path.split("/") if ":" in unquote(part))]:
            text = text.replace(secret, "/<token>" if secret[:1] == "/" else "<token>")
    return text
