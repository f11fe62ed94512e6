"""`crampcheck sweat`: /sweat in a terminal, with the same questions as /sweat.

Numbers are typed ("70,5" or "70.5"); yes/no questions take yes or no in English or Norwegian
(or y, j, n), and the optional question takes skip. `q` quits. The flow is the pure
`bot.engine.sweat.flow`, shared with the Telegram adapter.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.engine.sweat import flow
from bot.engine.sweat.config import SweatConfig
from bot.engine.sweat.flow import SweatAsk, SweatDone
from bot.render.sweat import choice_label, done_text, question_text, render_error

Read = Callable[[str], str]
Write = Callable[[str], object]


def run_sweat(
    config: SweatConfig, *, read: Read, write: Write, language: str = "en"
) -> SweatDone | None:
    """Ask /sweat's questions until the plan is shown; return it (None on quit or EOF)."""
    intro = config.text("intro", language, count=str(len(config.questions)))
    write(f"{intro} {config.text('quit_hint', language)}\n")
    reply = flow.begin(config)
    while isinstance(reply.step, SweatAsk):
        write("\n" + _question(config, reply.step, language) + "\n")
        try:
            typed = read("> ").strip()
        except EOFError:
            return None
        if typed.lower() in ("q", "quit", "exit"):
            return None
        reply = flow.answer_text(config, reply.draft, typed)
        if reply.error is not None:
            write("\n" + render_error(config, reply.error, language) + "\n")
            if reply.is_restarted:
                write(config.text("restart_numbers", language) + "\n")
    write("\n" + done_text(config, reply.step, language) + "\n")
    return reply.step


def _question(config: SweatConfig, ask: SweatAsk, language: str) -> str:
    text = question_text(config, ask, language)
    choices = " / ".join(choice_label(config, c, language) for c in ask.choices)
    return f"{text}\n({choices})" if choices else text
