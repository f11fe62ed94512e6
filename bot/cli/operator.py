"""The operator's sub-commands of `crampcheck`: `webhook set|delete|info`, `stats`, `forget`.

`add_operator_commands` adds them to the parser in bot/cli/main.py. Their handlers live in
`bot/cli/commands.py`, imported only when one of them runs, so that `kb lint` and the terminal
chat do not pay for importing telegram, aiohttp and the stores.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]


def add_operator_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `webhook`, `stats` and `forget` to the `crampcheck` sub-commands."""
    webhook = commands.add_parser("webhook", help="register the webhook URL with Telegram")
    actions = webhook.add_subparsers(title="webhook", dest="action", required=True)
    for name, text in (
        ("set", "send updates to CRAMPCHECK_WEBHOOK_URL, signed with CRAMPCHECK_WEBHOOK_SECRET"),
        ("delete", "stop sending updates to the webhook (polling can take over)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument(
            "--drop-pending-updates", action="store_true", help="discard updates not yet sent"
        )
        action.set_defaults(handler=_lazy("webhook"))
    actions.add_parser("info", help="show what Telegram reports").set_defaults(
        handler=_lazy("webhook")
    )
    stats = commands.add_parser("stats", help="anonymous aggregates of stored conversations")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(handler=_lazy("stats"))
    forget = commands.add_parser("forget", help="erase every record of one user (erasure)")
    forget.add_argument("user_id", type=_user_id, help="the user's numeric Telegram id")
    forget.set_defaults(handler=_lazy("forget"))


def _user_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("a user id is a positive whole number")
    return int(text)


def _lazy(name: str) -> Handler:
    """Return a handler that imports `bot.cli.commands` and runs its function `name`."""

    def run(args: argparse.Namespace) -> int:
        from bot.cli import commands

        handler: Handler = getattr(commands, name)
        return handler(args)

    return run
