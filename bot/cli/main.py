"""`crampcheck run | chat | sweat | card | assess | kb lint | kb graph | kb diff`.

Also `python -m bot`.

The operator's `webhook`, `stats` and `forget` are registered here too (`add_operator_commands`);
their handlers (bot/cli/operator.py) are imported only when one of them runs, so that `kb lint`
and the terminal chat do not pay for importing telegram, aiohttp and the stores.

Parses arguments, wires the parts together and picks the exit code; no logic of its own.
Exit codes: 0 fine, 1 knowledge-base errors, 2 bad input or settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import __version__
from bot.engine import (
    KnowledgeBase,
    KnowledgeBaseError,
    check_facts,
    default_knowledge_dir,
    has_errors,
    lint_knowledge_base,
    load_knowledge_base,
    run_case,
)
from bot.engine.kb.graph import dot, mermaid
from bot.engine.kb.loader import load_tables
from bot.engine.lint.diff import diff_cases, diff_knowledge, render_diff
from bot.engine.numbers.countries import find_country
from bot.engine.numbers.table import CountryNumbers, lookup
from bot.render.card import card_text, check_card_length

KB_CHECKS = (check_card_length,)
"""Lint checks above the engine, run with its own wherever the knowledge base is loaded: the
trip card's length, measured on its wording (bot/render/card.py)."""
CHAT_FALLBACK_HINT = (
    "No CRAMPCHECK_TOKEN set: starting the terminal chat. To run the Telegram bot, get a "
    "token from @BotFather and set CRAMPCHECK_TOKEN (see README)."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    handler = getattr(args, "handler", _default)
    code: int = handler(args)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crampcheck", description="Muscle-cramp triage bot.")
    parser.add_argument("--version", action="version", version=f"crampcheck {__version__}")
    parser.add_argument("--kb", type=Path, default=None, help="knowledge-base directory")
    commands = parser.add_subparsers(title="commands")
    run = commands.add_parser("run", help="run the Telegram bot (settings from CRAMPCHECK_*)")
    run.set_defaults(handler=_run)
    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--lang", default="en", help="language: en (default) or nb")
    chat.add_argument(
        "--country", default=None, help="your country (e.g. NO): its emergency number"
    )
    chat.set_defaults(handler=_chat)
    sweat = commands.add_parser("sweat", help="/sweat, the drinking plan, in this terminal")
    sweat.add_argument("--lang", default="en", help="language: en (default) or nb")
    sweat.set_defaults(handler=_sweat)
    card = commands.add_parser(
        "card", help="print the trip card: what to do and whom to call, with no signal"
    )
    card.add_argument("--lang", default="en", help="language: en (default) or nb")
    card.add_argument(
        "--country", default=None, help="the trip's country (e.g. NO, or Norway): its numbers"
    )
    card.set_defaults(handler=_card)
    assess = commands.add_parser("assess", help="run clinical cases (JSON) through the bot")
    assess.add_argument("file", type=Path, help="JSON: one case or a list, each {id, facts}")
    assess.set_defaults(handler=_assess)
    kb = commands.add_parser("kb", help="knowledge-base tools").add_subparsers(title="kb")
    lint = kb.add_parser("lint", help="check the knowledge base; exit 1 on errors")
    lint.add_argument("directory", nargs="?", type=Path, default=None)
    lint.add_argument("--strict", action="store_true", help="fail on warnings too")
    lint.set_defaults(handler=_lint)
    graph = kb.add_parser("graph", help="print the questionnaire as a flowchart")
    graph.add_argument("directory", nargs="?", type=Path, default=None)
    graph.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    graph.set_defaults(handler=_graph)
    diff = kb.add_parser("diff", help="what a knowledge-base change alters, and which cases")
    diff.add_argument("old", type=Path, help="knowledge-base directory before the change")
    diff.add_argument("new", type=Path, help="knowledge-base directory after the change")
    diff.add_argument("--cases", type=Path, default=None, help="cases JSON (as for assess)")
    diff.set_defaults(handler=_diff)
    add_operator_commands(commands)  # webhook set|delete|info, stats, forget
    return parser


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
    """Return a handler that imports `bot.cli.operator` and runs its function `name`."""

    def run(args: argparse.Namespace) -> int:
        from bot.cli import operator

        handler: Handler = getattr(operator, name)
        return handler(args)

    return run


def _say(text: str, *, error: bool = False) -> None:
    (sys.stderr if error else sys.stdout).write(text + "\n")


def _load(directory: Path | None) -> KnowledgeBase | None:
    try:
        return load_knowledge_base(directory or default_knowledge_dir(), checks=KB_CHECKS)
    except KnowledgeBaseError as error:
        _say(f"crampcheck: {error}", error=True)
        for issue in error.issues:
            _say(issue.render(), error=True)
        return None


def _lint(args: argparse.Namespace) -> int:
    directory = args.directory or args.kb or default_knowledge_dir()
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "does not exist"
        _say(f"crampcheck kb lint: {directory} {problem}", error=True)
        return 2
    issues = lint_knowledge_base(directory, checks=KB_CHECKS)
    for issue in issues:
        _say(issue.render())
    errors = sum(1 for issue in issues if issue.severity == "error")
    _say(f"{directory}: {errors} error(s), {len(issues) - errors} warning(s)", error=True)
    return 1 if has_errors(issues, strict=args.strict) else 0


def _graph(args: argparse.Namespace) -> int:
    kb = _load(args.directory or args.kb)
    if kb is None:
        return 1
    sys.stdout.write(mermaid(kb) if args.format == "mermaid" else dot(kb))
    return 0


def _diff(args: argparse.Namespace) -> int:
    old, new = _load(args.old), _load(args.new)
    if old is None or new is None:
        return 1
    cases: list[dict[str, Any]] = []
    if args.cases is not None:
        try:
            cases = _read_cases(args.cases, old) and _read_cases(args.cases, new)
        except ValueError as error:
            _say(f"crampcheck kb diff: {error}", error=True)
            return 2
    report = render_diff(diff_knowledge(old, new), diff_cases(old, new, cases))
    sys.stdout.write(report)
    return 0


def _assess(args: argparse.Namespace) -> int:
    kb = _load(args.kb)
    if kb is None:
        return 1
    try:
        cases = _read_cases(args.file, kb)
    except ValueError as error:
        _say(f"crampcheck assess: {error}", error=True)
        return 2
    sys.stdout.write(json.dumps([_assess_one(kb, case) for case in cases], indent=1) + "\n")
    return 0


def _read_cases(file: Path, kb: KnowledgeBase) -> list[dict[str, Any]]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read {file}: {error.strerror}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{file} is not valid JSON: {error}") from error
    cases = data if isinstance(data, list) else [data]
    for number, case in enumerate(cases):
        if (
            not isinstance(case, dict)
            or "id" not in case
            or not isinstance(case.get("facts"), dict)
        ):
            raise ValueError(f"case {number}: needs an 'id' and a 'facts' object")
        problems = check_facts(kb, case["facts"])
        if problems:
            raise ValueError(f"case {case['id']}: " + "; ".join(problems))
    return cases


def _assess_one(kb: KnowledgeBase, case: dict[str, Any]) -> dict[str, Any]:
    run = run_case(kb, case["facts"])
    return {
        "id": case["id"],
        "triage": run.result.level.code,
        "causes": [{"code": c.cause, "score": c.score} for c in run.result.causes],
        "advice_codes": list(run.result.advice_codes),
        "asked": list(run.asked),
        "questions": run.questions,
        "taps": run.taps,
        "screens_to_level": run.screens_to_level,
        "taps_to_level": run.taps_to_level,
        "interim": run.interim is not None,
    }


def _chat(args: argparse.Namespace) -> int:
    from bot.cli.chat import run_chat

    kb = _load(args.kb)
    if kb is None:
        return 1
    if args.lang not in kb.languages:
        _say(
            f"crampcheck chat: no language {args.lang!r}; have {', '.join(kb.languages)}",
            error=True,
        )
        return 2
    local = None
    if getattr(args, "country", None):  # the default command has no --country
        local = _country(args.kb, args.country)
        if local is None:
            return 2
    run_chat(kb, read=input, write=sys.stdout.write, language=args.lang, local=local)
    return 0


def _country(directory: Path | None, code: str) -> CountryNumbers | None:
    try:
        entry = lookup(load_tables(directory).numbers, code)
    except KnowledgeBaseError as error:
        _say(f"crampcheck: {error}", error=True)
        return None
    if entry is None:
        _say(f"crampcheck chat: no country {code!r} in the table (2 letters, e.g. NO)", error=True)
    return entry


def _sweat(args: argparse.Namespace) -> int:
    from bot.cli.sweat import run_sweat

    try:
        config = load_tables(args.kb).sweat
    except KnowledgeBaseError as error:
        _say(f"crampcheck: {error}", error=True)
        return 1
    if args.lang not in config.languages:
        _say(f"crampcheck sweat: no language {args.lang!r}", error=True)
        return 2
    run_sweat(config, read=input, write=sys.stdout.write, language=args.lang)
    return 0


def _card(args: argparse.Namespace) -> int:
    kb = _load(args.kb)
    if kb is None:
        return 1
    if args.lang not in kb.languages:
        languages = ", ".join(kb.languages)
        _say(f"crampcheck card: no language {args.lang!r}; have {languages}", error=True)
        return 2
    try:
        table = load_tables(args.kb).numbers
    except KnowledgeBaseError as error:
        _say(f"crampcheck: {error}", error=True)
        return 1
    country = None if args.country is None else find_country(table, args.country)
    if args.country is not None and country is None:
        _say(f"crampcheck card: no country {args.country!r} in the table (e.g. NO)", error=True)
        return 2
    today = datetime.now(UTC).date()  # no /sweat plan here: the card says "drink to thirst"
    text = card_text(kb, args.lang, country=country, checked=table.checked, today=today)
    sys.stdout.write(text + "\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    from bot.config import ConfigError, load_settings
    from bot.telegram.app import run_bot

    try:
        settings = load_settings()
    except ConfigError as error:
        _say(f"crampcheck: {error}", error=True)
        return 2
    if settings.token is None:
        _say("crampcheck: CRAMPCHECK_TOKEN is not set (get one from @BotFather)", error=True)
        return 2
    kb = _load(args.kb or settings.knowledge)
    if kb is None:
        return 1
    run_bot(settings, kb)
    return 0


def _default(args: argparse.Namespace) -> int:
    """No subcommand: the bot when a token is set, the terminal chat otherwise."""
    from bot.config import ConfigError, load_settings

    try:
        has_token = load_settings().token is not None
    except ConfigError as error:
        _say(f"crampcheck: {error}", error=True)
        return 2
    if has_token:
        return _run(args)
    _say(CHAT_FALLBACK_HINT, error=True)
    args.lang = "en"
    return _chat(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
