"""The project's exception tree; catch these only at boundaries (CLI, start-up, handlers).

BotError
├── KnowledgeBaseError      the knowledge base cannot be loaded or fails lint
├── EngineError             a questionnaire step cannot be taken
│   ├── InvalidAnswer       an option or item index that the current step does not offer
│   ├── SessionFinished     an answer to a questionnaire that already has its result
│   └── SessionOutdated     a session saved under another knowledge-base version
└── StoreError              a session store failed
    └── ConflictError       the stored revision moved on (compare-and-set lost)
"""

from __future__ import annotations

from bot.engine.issues import Issue


class BotError(Exception):
    """Root of every error this project raises on purpose."""


class KnowledgeBaseError(BotError):
    """The knowledge base could not be loaded; `issues` holds every problem found."""

    def __init__(self, message: str, issues: tuple[Issue, ...] = ()) -> None:
        super().__init__(message)
        self.issues = issues


class EngineError(BotError):
    """A questionnaire step could not be taken."""


class InvalidAnswer(EngineError):
    """The answer does not fit the current step."""


class SessionFinished(EngineError):
    """The questionnaire already reached its result."""


class SessionOutdated(EngineError):
    """The session was saved under another knowledge-base version."""

    def __init__(self, session_version: str, kb_version: str) -> None:
        super().__init__(
            f"session was saved under knowledge base {session_version!r}, loaded is {kb_version!r}"
        )
        self.session_version = session_version
        self.kb_version = kb_version


class StoreError(BotError):
    """A session store failed."""


class ConflictError(StoreError):
    """The stored revision has moved on since the caller read it."""

    def __init__(self, key: str, expected: int, actual: int | None) -> None:
        super().__init__(f"revision conflict on {key}: expected {expected}, found {actual}")
        self.key = key
        self.expected = expected
        self.actual = actual
