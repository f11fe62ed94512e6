"""What a baseline sends: the welcome text, and the first question with its keyboard.

The orchestrator writes them (from the real knowledge base) to the JSON file BENCH_SCREEN names,
so that every baseline's messages are the size of CrampCheck's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


def load_screen() -> dict[str, Any]:
    """Return {"welcome": str, "text": str, "markup": Bot API InlineKeyboardMarkup}."""
    data: dict[str, Any] = json.loads(Path(os.environ["BENCH_SCREEN"]).read_text("utf-8"))
    return data


def api_base() -> str:
    """Return the fake Bot API's root, e.g. http://127.0.0.1:8081 (no /bot)."""
    return os.environ["BENCH_API"]


def token() -> str:
    return os.environ["BENCH_TOKEN"]
