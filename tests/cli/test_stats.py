"""bot/cli/stats.py: pure aggregation of conversation summaries (no store, no Telegram)."""

from __future__ import annotations

import pytest

from bot.cli.stats import OTHER, UNKNOWN_LEVEL, Summary, aggregate, render_stats, summarize
from bot.config import ConfigError, load_settings
from bot.engine.kb.models import ChecklistQuestion, KnowledgeBase
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.session import FORMAT, Session


def test_aggregate_counts_started_finished_levels_causes_languages_and_median(
    kb: KnowledgeBase,
) -> None:
    cause = kb.causes[0].id
    summaries = [
        Summary("en", 10, "urgent", cause),
        Summary("en", 14, "urgent", cause),
        Summary("nb", 7, "self_care", "none"),
        Summary("nb", 3),
        Summary(OTHER, 1),
    ]

    stats = aggregate(kb, summaries, unreadable=2)

    assert (stats.started, stats.finished, stats.unreadable) == (5, 3, 2)
    assert stats.levels == dict.fromkeys((*kb.levels, UNKNOWN_LEVEL), 0) | {
        "urgent": 2,
        "self_care": 1,
    }
    assert stats.top_causes == {cause: 2, "none": 1}
    assert stats.languages == {"en": 2, "nb": 2, OTHER: 1}
    assert stats.median_taps == 10.0


def test_aggregate_of_nothing_has_no_median(kb: KnowledgeBase) -> None:
    stats = aggregate(kb, [])

    assert (stats.started, stats.finished, stats.median_taps) == (0, 0, None)
    assert "median taps to a result: -" in render_stats(stats, ttl_hours=24)


def test_values_outside_the_knowledge_base_are_counted_as_other(kb: KnowledgeBase) -> None:
    stats = aggregate(kb, [Summary("xx", 4, "4242", "user_42_cause")])

    assert stats.levels[OTHER] == 1
    assert stats.top_causes == {OTHER: 1}
    assert "4242" not in render_stats(stats, ttl_hours=24)


def test_summarize_replays_a_finished_session_for_its_level_and_top_cause(
    kb: KnowledgeBase,
) -> None:
    session, step = machine.start(kb)
    while isinstance(step, machine.Ask):  # "Not sure" to every question, nothing ticked
        if isinstance(step.question, ChecklistQuestion):
            session, step = machine.done(kb, session)
        else:
            session, step = machine.answer(kb, session, len(step.options) - 1)

    summary = summarize(kb, session, "nb")

    assert summary.language == "nb"
    assert summary.level == step.level.code
    assert summary.top_cause == (step.causes[0].cause if step.causes else "none")
    assert summary.taps == session.rev


def test_summarize_of_an_unfinished_session_has_no_level(kb: KnowledgeBase) -> None:
    session, _ = machine.start(kb)

    assert summarize(kb, session, "en") == Summary("en", 0)


def test_summarize_of_a_session_from_another_knowledge_base_is_unknown(
    kb: KnowledgeBase,
) -> None:
    old = Session(format=FORMAT, kb="1999.1", done=True, rev=9)

    assert summarize(kb, old, "en") == Summary("en", 9, UNKNOWN_LEVEL)


@pytest.mark.usefixtures("settings")  # clears CRAMPCHECK_* from the environment
def test_settings_refuse_a_metrics_port_equal_to_the_webhook_port() -> None:
    with pytest.raises(ConfigError, match="CRAMPCHECK_METRICS_PORT"):
        load_settings(
            _env_file=None,
            mode="webhook",
            webhook_url="https://bot.example.org/hook",
            webhook_secret="abc",
            port=8443,
            metrics_port=8443,
        )


@pytest.mark.usefixtures("settings")
def test_settings_read_log_format_and_metrics_port() -> None:
    settings = load_settings(_env_file=None, log_format="json", metrics_port="9090")

    assert (settings.log_format, settings.metrics_port) == ("json", 9090)
    with pytest.raises(ConfigError, match="CRAMPCHECK_LOG_FORMAT"):
        load_settings(_env_file=None, log_format="xml")
