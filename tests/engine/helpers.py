"""Build tiny knowledge bases in tmp_path, and drive the state machine step by step.

`ENGINE_KB` is a small but complete knowledge base (every file the loader needs) whose
rules are easy to reason about; tests swap single files with `{**ENGINE_KB, path: text}`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hypothesis import strategies as st

from bot.engine.kb.loader import default_knowledge_dir
from bot.engine.kb.models import ChecklistQuestion, KnowledgeBase
from bot.engine.lint import load_knowledge_base
from bot.engine.primitives import UNKNOWN
from bot.engine.questionnaire.machine import Ask, Result, Step, answer, done, start, tailor, toggle
from bot.engine.questionnaire.session import Session

REPO_ROOT = Path(__file__).resolve().parents[2]

KbFiles = Mapping[str, str]


def write_kb(root: Path, files: KbFiles) -> Path:
    """Write `files` ({relative path: YAML text}) under `root` and return the directory."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def load_kb(root: Path, files: KbFiles) -> KnowledgeBase:
    """Write `files` under `root` and load them with the project's only loader."""
    return load_knowledge_base(write_kb(root, files))


@cache
def real_kb() -> KnowledgeBase:
    """Load `knowledge/` once per test run (it is frozen, so sharing it is safe)."""
    return load_knowledge_base(default_knowledge_dir())


# --------------------------------------------------------------- step helpers --
def option(step: Step, value: str) -> int:
    """Return the index of the option with `value` on a single-question Ask."""
    assert isinstance(step, Ask), step
    return next(i for i, opt in enumerate(step.options) if opt.value == value)


def item(step: Step, finding: str) -> int:
    """Return the index of the checklist item for `finding` on a checklist Ask."""
    assert isinstance(step, Ask), step
    assert isinstance(step.question, ChecklistQuestion), step.question
    return next(i for i, it in enumerate(step.question.items) if it.finding == finding)


def asking(step: Step) -> str:
    """Return the id of the question a step asks (fails on a Result)."""
    assert isinstance(step, Ask), f"expected a question, got {step!r}"
    return step.question.id


@dataclass(frozen=True)
class Walk:
    """Every (session, step) pair of one questionnaire, the start included."""

    steps: tuple[tuple[Session, Step], ...]

    @property
    def result(self) -> Result:
        final = self.steps[-1][1]
        assert isinstance(final, Result), final
        return final

    @property
    def questions(self) -> tuple[str, ...]:
        """Question ids in the order their screens first appeared."""
        seen: list[str] = []
        for _, step in self.steps:
            if isinstance(step, Ask) and step.question.id not in seen:
                seen.append(step.question.id)
        return tuple(seen)

    @property
    def card_ids(self) -> list[str]:
        return [card.id for _, step in self.steps for card in step.cards]


def walk(kb: KnowledgeBase, facts: Mapping[str, str]) -> Walk:
    """Answer from `facts` like `assess.run_case`, but keep every step (cards included).

    On a checklist the first item standing for each finding's value is ticked, then Done; on
    the interim answer "Tailor my advice" is pressed.
    """
    session, step = start(kb)
    steps = [(session, step)]
    while isinstance(step, Ask) or step.interim:
        assert len(steps) < 500, "the questionnaire does not end"
        if isinstance(step, Result):
            session, step = tailor(kb, session)
            steps.append((session, step))
            continue
        question = step.question
        if isinstance(question, ChecklistQuestion):
            ticked: set[str] = set()
            for index, entry in enumerate(question.items):
                value = facts.get(entry.finding)
                if value in entry.values and entry.finding not in ticked and isinstance(step, Ask):
                    ticked.add(entry.finding)
                    session, step = toggle(kb, session, index)
                    steps.append((session, step))
            if isinstance(step, Ask):
                session, step = done(kb, session)
                steps.append((session, step))
        else:
            session, step = answer(kb, session, option(step, facts.get(question.finding, UNKNOWN)))
            steps.append((session, step))
    return Walk(tuple(steps))


# ------------------------------------------------------------ the engine KB --
LEVELS_AND_TEXTS = """\
levels:
  emergency: {banner: "E", title: {en: "Emergency"}}
  urgent: {banner: "U", title: {en: "Urgent"}}
  doctor: {banner: "D", title: {en: "Doctor"}}
  self_care: {banner: "S", title: {en: "Self-care"}}
texts:
  not_sure: {en: "Not sure"}
  back: {en: "Back"}
  restart: {en: "Restart"}
  done: {en: "Done"}
  none_of_these: {en: "None of these"}
  why: {en: "Why"}
  disclaimer: {en: "Disclaimer"}
  welcome: {en: "Welcome"}
  likely_causes: {en: "Likely causes"}
  what_to_do: {en: "What to do"}
  safety_net: {en: "Safety net"}
  unsure_intro: {en: "Unsure intro"}
  unsure_advice: {en: "Unsure advice"}
  why_level: {en: "Why level"}
  why_causes: {en: "Why causes"}
  no_red_flags: {en: "No red flags"}
  no_cause_signals: {en: "No cause signals"}
  chat_invalid: {en: "chat_invalid"}
  chat_result_keys: {en: "chat_result_keys"}
  chat_keys: {en: "chat_keys"}
  trip_card_title: {en: "TRIP CARD"}
  trip_card_cramp_now: {en: "CRAMP NOW"}
  trip_card_call_if: {en: "CALL {number} IF"}
  trip_card_call_if_no_number: {en: "CALL IF"}
  trip_card_today_if: {en: "TODAY IF"}
  trip_card_numbers: {en: "NUMBERS ({date})"}
  trip_card_no_country: {en: "112."}
  trip_card_say: {en: "Say where."}
  trip_card_drink: {en: "Drink to thirst."}
  trip_card_decimal: {en: "."}
  trip_card_plan: {en: "{date}: {rate} L/h, {per_15_min} mL."}
  trip_card_plan_gained: {en: "{date}: too much."}
  trip_card_plan_restricted: {en: "Ask a doctor."}
emergency_phrases:
  en: ["chest pain"]
"""

ENGINE_KB: dict[str, str] = {
    "kb.yaml": textwrap.dedent(
        """
        version: "engine.1"
        languages: [en]
        question_files: [opener, flags, context]
        patterns:
          clot_with_pain:
            all:
              - {finding: calf, in: ["yes"]}
              - {finding: pain, in: ["severe"]}
        cards:
          - id: first_aid_now
            when: {finding: now, in: ["yes"]}
            advice: first_aid
        """
    )
    + LEVELS_AND_TEXTS,
    "findings.yaml": """
        - {code: now, values: ["yes", "no"], label: {en: "cramp now"}}
        - {code: chest_pain, values: ["yes", "no"], label: {en: "chest pain"}, red_flag: true}
        - {code: calf, values: ["yes", "no"], label: {en: "swollen calf"}, red_flag: true}
        - {code: dizzy, values: ["yes", "no"], label: {en: "dizzy"}, red_flag: true}
        - code: pain
          values: ["none", "mild", "severe"]
          label: {en: "pain"}
          red_flag: true
        - {code: duration, values: ["short", "long"], label: {en: "how long"}}
        - {code: stretch_helps, values: ["yes", "no"], label: {en: "stretching helps"}}
        - {code: frequency, values: ["rare", "often"], label: {en: "how often"}}
        - {code: remote, values: ["yes", "no"], label: {en: "alone or remote"}}
        """,
    "questions/opener.yaml": """
        - id: now
          kind: single
          finding: now
          text: {en: "Cramp now?"}
          options:
            - {value: "yes", label: {en: "Yes"}}
            - {value: "no", label: {en: "No"}}
        """,
    "questions/flags.yaml": """
        - id: flags
          kind: checklist
          text: {en: "Tick any that apply."}
          items:
            - {finding: chest_pain, label: {en: "Chest pain"}}
            - {finding: calf, label: {en: "Swollen calf"}}
            - {finding: dizzy, label: {en: "Dizzy"}}
        - id: pain
          kind: single
          finding: pain
          text: {en: "How bad is the pain?"}
          options:
            - {value: "none", label: {en: "None"}}
            - {value: "mild", label: {en: "Mild"}}
            - {value: "severe", label: {en: "Severe"}}
        """,
    "questions/context.yaml": """
        - id: duration
          kind: single
          finding: duration
          text: {en: "How long?"}
          options:
            - {value: "short", label: {en: "Short"}}
            - {value: "long", label: {en: "Long"}}
        - id: stretch
          kind: single
          finding: stretch_helps
          ask_if: {finding: duration, in: ["long"]}
          text: {en: "Does stretching help?"}
          options:
            - {value: "yes", label: {en: "Yes"}}
            - {value: "no", label: {en: "No"}}
        - id: frequency
          kind: single
          finding: frequency
          skip_if_settled: true
          text: {en: "How often?"}
          options:
            - {value: "rare", label: {en: "Rarely"}}
            - {value: "often", label: {en: "Often"}}
        - id: remote
          kind: single
          finding: remote
          text: {en: "Alone?"}
          options:
            - {value: "yes", label: {en: "Yes"}}
            - {value: "no", label: {en: "No"}}
        """,
    "rules.yaml": """
        - {id: chest_pain, level: emergency, when: {finding: chest_pain, in: ["yes"]},
           reason: {en: "chest pain"}, source: "test", trip_card: {en: "chest pain"}}
        - {id: clot_with_pain, level: emergency, when: {pattern: clot_with_pain},
           reason: {en: "calf and severe pain"}, source: "test",
           trip_card: {en: "swollen calf and severe pain"}}
        - {id: calf, level: urgent, when: {finding: calf, in: ["yes"]},
           reason: {en: "calf"}, source: "test", trip_card: {en: "swollen calf"}}
        - {id: severe_pain, level: urgent, when: {finding: pain, in: ["severe"]},
           reason: {en: "pain"}, source: "test", trip_card: {en: "severe pain"}}
        - id: long_not_easing
          level: urgent
          when:
            all:
              - {finding: duration, in: ["long"]}
              - {finding: stretch_helps, in: ["no"]}
          reason: {en: "long and not easing"}
          source: "test"
          trip_card: {en: "long and not easing"}
        - {id: long, level: doctor, when: {finding: duration, in: ["long"]},
           reason: {en: "long"}, source: "test"}
        - {id: often, level: doctor, when: {finding: frequency, in: ["often"]},
           reason: {en: "often"}, source: "test"}
        """,
    "causes.yaml": """
        - id: overuse
          name: {en: "Overuse"}
          summary: {en: "Tired muscles."}
          prior: 1
          signals:
            - {when: {finding: duration, in: ["short"]}, weight: 1, reason: {en: "short"}}
        - id: clot
          name: {en: "Clot"}
          summary: {en: "A clot."}
          signals:
            - {when: {finding: calf, in: ["yes"]}, weight: 3, reason: {en: "calf"}}
            - {when: {finding: dizzy, in: ["yes"]}, weight: -1, reason: {en: "dizzy"}}
        - id: habit
          name: {en: "Habit"}
          summary: {en: "Frequent cramps."}
          signals:
            - {when: {finding: frequency, in: ["often"]}, weight: 2, reason: {en: "often"}}
        """,
    "advice.yaml": """
        - {id: first_aid, section: card, codes: [stretch_or_massage], text: {en: "Stretch."},
           trip_card: {en: "Stretch."}}
        - {id: safety_net, section: safety, codes: [call_emergency], text: {en: "Net."}}
        - id: call_now
          section: action
          codes: [call_emergency]
          show_if: {level: ["emergency"]}
          text: {en: "Call."}
        - id: see_today
          section: action
          codes: [same_day_care]
          show_if: {level: ["urgent"]}
          text: {en: "Today."}
        - id: book
          section: action
          codes: [book_doctor]
          show_if: {level: ["doctor"]}
          text: {en: "Book."}
        - id: pacing
          section: prevention
          codes: [pace_and_training]
          show_if: {cause: overuse}
          text: {en: "Pace."}
        - id: stretch
          section: care
          codes: [stretch_or_massage]
          show_if: {level: ["self_care", "doctor"]}
          hide_if: {finding: calf, in: ["yes"]}
          text: {en: "Stretch it."}
        - id: clot_care
          section: care
          codes: [rest]
          show_if: {cause: clot}
          text: {en: "Rest the leg."}
        - id: habit_check
          section: care
          codes: [book_doctor]
          show_if: {cause: habit}
          text: {en: "Ask about frequent cramps."}
        """,
    "advice_codes.yaml": """
        - {code: call_emergency}
        - {code: same_day_care}
        - {code: book_doctor}
        - {code: stretch_or_massage}
        - {code: rest}
        - {code: pace_and_training}
        - {code: quinine, never: true}
        """,
}


# ------------------------------------------------------------- fact strategies --
def fact_sets(kb: KnowledgeBase, *, max_size: int = 25) -> st.SearchStrategy[dict[str, str]]:
    """Random clinical cases over `kb`: some findings, each a valid value or ``unknown``."""
    domains = {finding.code: (*finding.values, UNKNOWN) for finding in kb.findings}

    @st.composite
    def draw_facts(draw: st.DrawFn) -> dict[str, str]:
        codes = draw(st.lists(st.sampled_from(sorted(domains)), max_size=max_size, unique=True))
        return {code: draw(st.sampled_from(domains[code])) for code in codes}

    return draw_facts()
