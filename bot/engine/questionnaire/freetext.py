"""Free text a user types: does it name an emergency? (The text itself is never stored.)

The phrases live in the knowledge base per language; a message is checked against the
phrases of every language, since a Norwegian hiker may well type in English.
"""

from __future__ import annotations

import re

from bot.engine.kb.models import KnowledgeBase

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})


def mentions_emergency(kb: KnowledgeBase, text: str) -> bool:
    """Tell whether `text` contains an emergency phrase as whole words, in any case."""
    normalised = " ".join(text.lower().translate(_APOSTROPHES).split())
    return any(pattern.search(normalised) for pattern in _patterns(kb))


def _patterns(kb: KnowledgeBase) -> list[re.Pattern[str]]:
    return [
        re.compile(rf"(?<!\w){re.escape(phrase.lower())}(?!\w)")
        for phrases in kb.emergency_phrases.values()
        for phrase in phrases
    ]
