"""Loopback servers for the transport tests: a small fake Bot API, and raw sockets that misbehave.

``FakeBotApi`` is an aiohttp.web app that answers like the real Bot API (``{"ok": true, "result":
...}``) and records every call as it arrived on the wire: the request target, the content type,
the fields as the server reads them (a form or a JSON object: bench/wire.py), the uploaded files
and the raw body (with the multipart boundary replaced by ``BOUNDARY``, so two transports'
bodies can be compared byte for byte). It also counts requests
in flight and the client sockets it has seen, and can delay or fail a method on demand.

``RawServer`` is a bare asyncio server whose connection handler decides what to do with a socket
(drop it, reset it, never read it), for the network failures an HTTP server will not produce.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from bench import wire

TOKEN = "123:TEST"
USER = {"id": 123, "is_bot": True, "first_name": "CrampCheck", "username": "crampcheck_bot"}
_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>\w+)")
_FILE_PATH = re.compile(r"/file/bot(?P<token>[^/]+)/(?P<path>.+)")
FILES = {"documents/file_1.txt": b"day,cramps\nmon,2\n" * 10_000}


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request."""

    name: str
    filename: str | None
    content_type: str | None
    content: bytes


@dataclass
class Call:
    """One request as the server saw it."""

    method: str
    target: str
    content_type: str | None
    headers: dict[str, str]
    fields: list[tuple[str, str]] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    body: bytes = b""

    @property
    def params(self) -> dict[str, str]:
        """Return the text fields as a dict."""
        return dict(self.fields)


class FakeBotApi:
    """Answer Bot API calls for TOKEN and record them."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.replies: dict[str, tuple[int, Any]] = {}
        self.delays: dict[str, float] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.peers: set[tuple[str, int]] = set()
        self.port = 0
        self.received = asyncio.Event()  # set once a call has been recorded

    @property
    def base_url(self) -> str:
        """Return the base_url a PTB Bot needs to reach this server."""
        return f"http://127.0.0.1:{self.port}/bot"

    def reply(self, method: str, status: int, payload: Any) -> None:
        """Answer every later call of method with this status and JSON payload."""
        self.replies[method] = (status, payload)

    def calls_of(self, method: str) -> list[Call]:
        """Return the recorded calls of one method."""
        return [call for call in self.calls if call.method == method]

    def app(self) -> web.Application:
        """Build the aiohttp application."""
        application = web.Application(client_max_size=64 * 1024 * 1024)
        application.router.add_route("*", "/{tail:.*}", self._handle)
        return application

    async def _handle(self, request: web.Request) -> web.Response:
        assert request.transport is not None
        self.peers.add(request.transport.get_extra_info("peername")[:2])
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.Response:
        if file_match := _FILE_PATH.fullmatch(request.path):
            return await self._download(request, file_match)
        match = _PATH.fullmatch(request.path)
        if match is None:
            return _error(404, "Not Found")
        if match["token"] != TOKEN:
            return _error(401, "Unauthorized")
        call = await record(request, match["method"])
        self.calls.append(call)
        self.received.set()
        await asyncio.sleep(self.delays.get(call.method, 0))
        if call.method in self.replies:
            status, payload = self.replies[call.method]
            return web.Response(
                status=status, text=_dump(payload), content_type="application/json"
            )
        result = _RESULTS.get(call.method)
        if result is None:
            return _error(404, "Not Found: method not found")
        return web.json_response({"ok": True, "result": result(call.params, call.uploads)})

    async def _download(self, request: web.Request, match: re.Match[str]) -> web.Response:
        self.calls.append(Call(f"{request.method} file", request.raw_path, None, {}))
        if match["token"] != TOKEN or match["path"] not in FILES:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=FILES[match["path"]], content_type="text/plain")


async def record(request: web.Request, method: str) -> Call:
    """Decode a request the way the Bot API would, keeping the raw body too."""
    body = await request.read()
    content_type = request.content_type if request.body_exists else None
    call = Call(method, request.raw_path, content_type, dict(request.headers))
    decoded = wire.fields(content_type, body)  # a form or a JSON object, read as the server does
    if decoded is not None:
        call.fields = decoded
        call.body = body
    elif content_type == "multipart/form-data":
        boundary_match = re.search(r'boundary="?([^";]+)', request.headers["Content-Type"])
        assert boundary_match is not None
        boundary = boundary_match[1].encode()
        call.fields, call.uploads = parse_multipart(body, boundary)
        call.body = body.replace(boundary, b"BOUNDARY")
    return call


def parse_multipart(body: bytes, boundary: bytes) -> tuple[list[tuple[str, str]], list[Upload]]:
    """Split a multipart/form-data body into text fields and file parts."""
    fields: list[tuple[str, str]] = []
    uploads: list[Upload] = []
    sections = body.split(b"--" + boundary)
    assert sections[0] == b"", "nothing may precede the first boundary"
    assert sections[-1] == b"--\r\n", "the body must end with the closing boundary"
    for section in sections[1:-1]:
        assert section.startswith(b"\r\n"), section[:20]
        assert section.endswith(b"\r\n"), section[-20:]
        head, _, content = section[2:-2].partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        disposition = headers.pop("Content-Disposition")
        name = re.search(r'(?:^|; )name="([^"]*)"', disposition)
        filename = re.search(r'; filename="([^"]*)"', disposition)
        assert name is not None, disposition
        if filename is None:
            assert not headers, f"text fields carry no headers, as with httpx: {headers}"
            fields.append((name[1], content.decode()))
        else:
            uploads.append(Upload(name[1], filename[1], headers.get("Content-Type"), content))
    return fields, uploads


def _message(params: dict[str, str], uploads: list[Upload]) -> dict[str, Any]:
    chat = {"id": int(params.get("chat_id", "1")), "type": "private"}
    message: dict[str, Any] = {"message_id": 7, "date": 1_700_000_000, "chat": chat}
    if "text" in params:
        message["text"] = params["text"]
    for upload in uploads:
        message["document"] = {"file_id": "doc-1", "file_unique_id": "u-1"}
        message["document"]["file_name"] = upload.filename
    return message


_RESULTS: dict[str, Callable[[dict[str, str], list[Upload]], Any]] = {
    "getMe": lambda params, uploads: USER,
    "getUpdates": lambda params, uploads: [],
    "sendMessage": _message,
    "editMessageText": _message,
    "sendDocument": _message,
    "sendMediaGroup": lambda params, uploads: [_message(params, uploads[:1])],
    "answerCallbackQuery": lambda params, uploads: True,
    "getFile": lambda params, uploads: {
        "file_id": params["file_id"],
        "file_unique_id": "u-1",
        "file_size": len(FILES["documents/file_1.txt"]),
        "file_path": "documents/file_1.txt",
    },
}


def _error(status: int, description: str) -> web.Response:
    payload = {"ok": False, "error_code": status, "description": description}
    return web.json_response(payload, status=status)


def _dump(payload: Any) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload)


async def start_api(api: FakeBotApi) -> TestServer:
    """Serve api on 127.0.0.1; no access log, since request paths carry the token."""
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server(access_log=None)  # TestServer cancels handlers of dropped clients
    assert server.port is not None
    api.port = server.port
    return server


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A loopback TCP server that hands each connection to handler, and cleans up after it."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> RawServer:
        # A large stream limit lets a handler take big reads (throttled_reader).
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=4 << 20)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        await self._handler(reader, writer)


async def drop_after_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request head, then close the connection without answering."""
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


async def reset_after_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request head, then reset the connection (RST instead of FIN)."""
    await reader.readuntil(b"\r\n\r\n")
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept the connection and read nothing, so that an upload stalls once buffers fill."""
    await writer.wait_closed()  # until the client gives up or the server shuts down


def throttled_reader(chunk: int, pause: float) -> Handler:
    """Read the body chunk bytes at a time with a pause between reads, then answer sendDocument."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length_match = re.search(rb"(?i)\r\ncontent-length: (\d+)", head)
        assert length_match is not None, head
        remaining = int(length_match[1])
        while remaining > 0 and (data := await reader.read(min(chunk, remaining))):
            remaining -= len(data)
            await asyncio.sleep(pause)
        body = json.dumps({"ok": True, "result": _message({"chat_id": "1"}, [])}).encode()
        status = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        )
        writer.write(f"{status}\r\nConnection: close\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    return handle
