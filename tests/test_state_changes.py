"""Each comment's state changes are logged and counted once committed, never on rollback;
the JSON log lines carry ids, never the text unless asked (moderation/state_changes.py,
moderation/logs.py)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from moderation import logs, metrics
from moderation.comments import NewComment, create_comment
from moderation.db.models import Article, DecidedBy
from moderation.db.scoping import all_sites_session, in_site, site_session
from moderation.decisions import record_decision
from moderation.policy import Action

TEXT = "The bus lane on Elm Street saves me ten minutes a day."


@pytest.fixture
def events(caplog):
    caplog.set_level(logging.INFO, logger="moderation.state_changes")
    metrics.RECORDER.take()  # this process's earlier counts
    yield lambda: [r for r in caplog.records if r.name == "moderation.state_changes"]
    logs.configure(log_format="text")  # back to the default: text off
    logging.getLogger().handlers.clear()


def new_comment(session, cid="c1"):
    if session.get(Article, in_site(session, "a1")) is None:
        session.add(Article(id="a1", title="Bus lanes", body="b", content_hash="h", tags=[]))
        session.flush()
    return create_comment(
        session=session, new=NewComment(id=cid, article_id="a1", text=TEXT, author_id="u1")
    )[0]


def add_site(session_factory, site="daily"):
    from moderation import sites

    with all_sites_session(session_factory) as s:
        sites.create_site(s, site, sites.SiteChanges(name=site), actor="test")
        s.commit()


def test_a_committed_comment_is_told_once_and_a_rolled_back_one_never(session_factory, events):
    add_site(session_factory)
    with site_session(session_factory, "daily") as s:
        new_comment(s, "kept")
        s.commit()
        new_comment(s, "dropped")
        s.rollback()
    told = events()
    assert [(r.event, r.comment_id, r.site) for r in told] == [
        ("comment.received", "kept", "daily")
    ]
    assert told[0].to_state == "pending"
    assert not hasattr(told[0], "text")
    counts = metrics.RECORDER.take()
    assert counts == {("moderation_comments_received_total", '["daily"]'): 1.0}


def test_a_decision_is_told_with_its_rule_and_latency(session_factory, events):
    add_site(session_factory)
    with site_session(session_factory, "daily") as s:
        comment = new_comment(s)
        s.commit()
        decision = record_decision(
            session=s,
            comment=comment,
            action=Action.REJECT,
            decided_by=DecidedBy.RULES,
            reasons=[{"rule": "very-toxic", "message": "toxicity 0.97"}],
            rules_version="v1",
            rule="very-toxic",
        )
        s.commit()
        latency = (decision.decided_at - comment.received_at).total_seconds()
    told = events()[-1]
    assert (told.event, told.action, told.decided_by, told.rule, told.rules_version) == (
        "comment.reject", "reject", "rules", "very-toxic", "v1"
    )  # fmt: skip
    assert told.latency_ms == pytest.approx(latency * 1000, abs=0.1)
    counts = metrics.RECORDER.take()
    key = ("moderation_decisions_total", '["daily","reject","rules","very-toxic"]')
    assert counts[key] == 1.0
    hist = '["daily","rules"]'
    assert counts[("moderation_decision_latency_seconds", f"{hist}|count")] == 1.0
    assert counts[("moderation_decision_latency_seconds", f"{hist}|sum")] == pytest.approx(latency)


@pytest.mark.parametrize("log_text", [False, True])
def test_json_lines_carry_the_text_only_when_asked(session_factory, events, log_text):
    stream = io.StringIO()
    logs.configure(log_format="json", log_text=log_text, process="api")
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]
    with site_session(session_factory, "default") as s:
        new_comment(s)
        s.commit()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    line = next(x for x in lines if x["logger"] == "moderation.state_changes")
    assert line["event"] == "comment.received"
    assert (line["comment_id"], line["site"], line["process"]) == ("c1", "default", "api")
    assert line["level"] == "info" and line["time"].endswith("+00:00")
    if log_text:
        assert line["text"] == TEXT
    else:
        assert "text" not in line
        assert TEXT not in stream.getvalue()


def test_auto_is_text_on_a_terminal_and_json_elsewhere():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert logs.use_json("auto", Tty()) is False
    assert logs.use_json("auto", io.StringIO()) is True
    assert logs.use_json("json", Tty()) is True
    assert logs.use_json("text", io.StringIO()) is False


def test_a_savepoint_rolled_back_drops_only_its_own_changes(session_factory, events):
    with site_session(session_factory, "default") as s:
        new_comment(s, "before")
        try:
            with s.begin_nested():
                new_comment(s, "inside")
                raise RuntimeError("the batch item fails after its audit row")
        except RuntimeError:
            pass
        with s.begin_nested():
            new_comment(s, "after")
        assert events() == []  # nothing is told before the transaction commits
        s.commit()
    assert [r.comment_id for r in events()] == ["before", "after"]


def test_a_batch_tells_each_new_comment_and_not_its_retries(session_factory, events):
    from moderation.comments import create_comments

    with site_session(session_factory, "default") as s:
        new_comment(s, "old")
        s.commit()
        news = [
            NewComment(id=cid, article_id="a1", text=TEXT, author_id="u1")
            for cid in ("old", "b1", "b2")
        ]
        create_comments(session=s, news=news)
        s.commit()
    assert [r.comment_id for r in events()] == ["old", "b1", "b2"]
    assert metrics.RECORDER.take() == {("moderation_comments_received_total", '["default"]'): 3.0}
