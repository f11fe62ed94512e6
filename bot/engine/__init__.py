"""The pure engine: the knowledge base (`kb/`), a questionnaire (`questionnaire/`), lint (`lint/`),
/sweat (`sweat/`), emergency numbers (`numbers/`) and check-ins (`checkins.py`).

Nothing here imports telegram, redis, aiosqlite or asyncio, reads a clock or does I/O, except
reading bundled data: `kb/loader.py` reads `knowledge/`, and `numbers/geo.py` the country borders
of the `countrycheck` package. Errors (`errors.py`), lint issues (`issues.py`) and the models'
building blocks (`primitives.py`) sit at the top, below every subpackage. The Telegram adapter and
the CLI drive the questionnaire through the names below.
"""

from bot.engine.errors import (
    BotError,
    ConflictError,
    EngineError,
    InvalidAnswer,
    KnowledgeBaseError,
    SessionFinished,
    SessionOutdated,
    StoreError,
)
from bot.engine.issues import Issue
from bot.engine.kb.loader import default_knowledge_dir
from bot.engine.kb.models import KnowledgeBase
from bot.engine.lint import has_errors, lint_knowledge_base, load_knowledge_base
from bot.engine.primitives import Level
from bot.engine.questionnaire.assess import CaseRun, check_facts, run_case
from bot.engine.questionnaire.machine import (
    Ask,
    Result,
    Step,
    answer,
    back,
    current_step,
    done,
    start,
    toggle,
)
from bot.engine.questionnaire.session import Session

__all__ = [
    "Ask",
    "BotError",
    "CaseRun",
    "ConflictError",
    "EngineError",
    "InvalidAnswer",
    "Issue",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Level",
    "Result",
    "Session",
    "SessionFinished",
    "SessionOutdated",
    "Step",
    "StoreError",
    "answer",
    "back",
    "check_facts",
    "current_step",
    "default_knowledge_dir",
    "done",
    "has_errors",
    "lint_knowledge_base",
    "load_knowledge_base",
    "run_case",
    "start",
    "toggle",
]
