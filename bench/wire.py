"""A Bot API call's parameters as the Bot API server reads them, for the loopback fakes.

The server takes parameters in the query string, a form (urlencoded or multipart) or a JSON
object, and reads each as text: a JSON body's string values as they are, any other value as its
JSON text (td's HttpReader::parse_json_parameters). `fields` does the same, so a fake sees one
call alike whichever way a client sent it; bench/ and tests/ share it.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from aiohttp import web

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def fields(content_type: str | None, body: bytes) -> list[tuple[str, str]] | None:
    """Return a form's or a JSON object's fields as text, in order; None for another body.

    Raises ValueError for a body that is not what its content type says.
    """
    if content_type == FORM:
        return parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    if content_type == JSON:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("a JSON body must be an object")
        return [(name, _text(value)) for name, value in data.items()]
    return None


async def params(request: web.Request) -> dict[str, str]:
    """Return the call's parameters from a form, a JSON object, multipart, or the query."""
    content_type = request.content_type if request.body_exists else None
    found = fields(content_type, await request.read())
    if found is not None:
        return dict(found)
    if content_type is not None and content_type.startswith("multipart/"):
        form = await request.post()
        return {name: str(value) for name, value in form.items()}
    return dict(request.query)


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)
