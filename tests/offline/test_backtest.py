"""``moderation rules backtest``: stored comments replayed with their stored scores.

The comments are decided by ``rules/default.yaml`` when inserted (as a worker would); the
backtest then tries a copy whose ``very-toxic`` threshold moves from 0.85 down to 0.75. The
scores are built so that exactly the comments with toxicity in [0.75, 0.85) change, from
escalate (borderline-toxicity) to reject (very-toxic).
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from moderation.db.models import Article, Comment, DecidedBy, Decision, Score, utcnow
from moderation.decisions import record_decision, rules_context
from moderation.offline import backtest as bt
from moderation.policy import load_rules
from tests.conftest import ROOT

N = 240
OLD = [f"old-{i}" for i in range(5)]  # received 10 days ago: outside --since 7d


def toxicity(i: int) -> float:
    """Per comment: 20 move (0.75..0.822), 20 stay escalated just below (0.74),
    20 stay rejected (0.95), 180 stay approved (0.05..0.32)."""
    group = i % 12
    if group == 0:
        return 0.75 + (i % 7) * 0.012
    if group == 1:
        return 0.95
    if group == 2:
        return 0.74
    return 0.05 + (i % 10) * 0.03


def cid(i: int) -> str:
    return f"c{i:04d}"


MOVED = sorted(cid(i) for i in range(N) if i % 12 == 0)
REJECTED = [cid(i) for i in range(N) if i % 12 == 1]
APPROVED = [cid(i) for i in range(N) if i % 12 >= 3]


@pytest.fixture
def new_rules(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules" / "words", tmp_path / "words")
    text = (ROOT / "rules" / "default.yaml").read_text()
    old = "- {score: toxicity, gte: 0.85}                      # tune"
    assert text.count(old) == 1  # very-toxic's threshold
    path = tmp_path / "lower.yaml"
    path.write_text(text.replace(old, "- {score: toxicity, gte: 0.75}"))
    return path


@pytest.fixture
def stored(session_factory):
    """N comments (plus OLD) with scores and a rules decision by the default rules."""
    ruleset = load_rules(ROOT / "rules" / "default.yaml")
    now = utcnow()
    with session_factory() as session:
        session.add(Article(id="a1", title="Budget", body="The council passed a budget.",
                            content_hash="h", tags=[]))  # fmt: skip
        session.flush()
        specs = [(cid(i), toxicity(i), now) for i in range(N)]
        specs += [(c, 0.8, now - timedelta(days=10)) for c in OLD]
        for comment_id, tox, received in specs:
            comment = Comment(
                id=comment_id, article_id="a1", author_id=f"author-{comment_id}",
                text=f"Comment {comment_id} about the budget.", content_hash="h",
                created_at=received, received_at=received,
            )  # fmt: skip
            session.add(comment)
            for name, value in (("toxicity", tox), ("relevance", 0.9), ("spam", 0.01)):
                session.add(Score(comment_id=comment_id, name=name, value=value))
            session.flush()
            session.refresh(comment)
            verdict = ruleset.evaluate(rules_context(session, comment, ruleset))
            record_decision(
                session=session, comment=comment, action=verdict.action.value,
                decided_by=DecidedBy.RULES, rules_version=ruleset.version, rule=verdict.rule,
                reasons=[{"rule": r.rule, "message": r.message} for r in verdict.reasons],
            )  # fmt: skip
        session.commit()
        counts = {
            a: session.query(Decision).filter_by(action=a, decided_by="rules").count()
            for a in ("approve", "reject", "escalate")
        }
    # The default rules decided as the scores were built to make them decide.
    assert counts == {"approve": 180, "reject": 20, "escalate": 40 + len(OLD)}
    return ruleset


def moderate(session_factory, answers: dict[str, str]) -> None:
    with session_factory() as session:
        for comment_id, action in answers.items():
            comment = session.get(Comment, ("default", comment_id))
            record_decision(
                session=session, comment=comment, action=action, decided_by=DecidedBy.MODERATOR,
                actor="mod", reasons=[{"rule": "moderator", "message": "checked"}],
                rules_version=None,
            )  # fmt: skip
        session.commit()


def run_backtest(session_factory, path: Path, **kwargs) -> bt.BacktestReport:
    with session_factory() as session:
        return bt.backtest(
            session=session, ruleset=load_rules(path), since=utcnow() - timedelta(days=7), **kwargs
        )


def test_exactly_the_comments_across_the_moved_threshold_change(session_factory, stored, new_rules):
    report = run_backtest(session_factory, new_rules)
    assert report.replayed == N
    assert report.changed == len(MOVED) == 20
    assert [c.comment_id for c in report.changes] == MOVED
    assert {(c.old_action, c.old_rule, c.new_action, c.new_rule) for c in report.changes} == {
        ("escalate", "borderline-toxicity", "reject", "very-toxic")
    }
    assert report.as_dict()["table"] == {
        "approve": {"approve": 180, "reject": 0, "escalate": 0},
        "reject": {"approve": 0, "reject": 20, "escalate": 0},
        "escalate": {"approve": 0, "reject": 20, "escalate": 20},
    }
    assert report.counts("old") == {"approve": 180, "reject": 20, "escalate": 40}
    assert report.counts("new") == {"approve": 180, "reject": 40, "escalate": 20}
    assert report.current_versions == {stored.version: N}
    assert report.truth is None and report.old is None  # no moderator decisions yet

    text = report.render()
    assert "20 of 240 decision(s) would change (8.3%)" in text
    assert "  escalate             0      20        20     40" in text
    assert (
        f"  {MOVED[0]}    escalate (borderline-toxicity)  reject (very-toxic)  "
        f'"Comment {MOVED[0]} about the budget."'
    ) in text


def test_the_same_rules_change_nothing(session_factory, stored):
    report = run_backtest(session_factory, ROOT / "rules" / "default.yaml")
    assert (report.replayed, report.changed) == (N, 0)


def test_what_the_rules_read_is_looked_up_per_partition_not_per_comment(
    session_factory, stored, new_rules
):
    """Authors' status, history and reports come in a query or two per 500 comments: a
    replay of a month of comments on PostgreSQL paid round trips per comment before."""
    statements: list[str] = []
    engine = session_factory.kw["bind"]

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        report = run_backtest(session_factory, new_rules)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert report.replayed == N
    assert len(statements) < 20, "\n".join(statements)


def test_error_and_escalation_rates_against_moderator_decisions(session_factory, stored, new_rules):
    answers = {c: "reject" for c in MOVED[:10]}  # the new threshold gets these right
    answers |= {c: "approve" for c in MOVED[10:14]}  # ... and these wrong
    answers |= {c: "reject" for c in APPROVED[:5]}  # overturned: wrong before and after
    answers |= {c: "reject" for c in REJECTED[:4]} | {c: "approve" for c in REJECTED[4:6]}
    moderate(session_factory, answers)

    report = run_backtest(session_factory, new_rules)
    assert report.truth == "moderator decisions"
    # Current: the 14 moved comments were escalated; 11 automatic, 5 + 2 of them wrong.
    assert report.old == bt.Rates(judged=25, automatic=11, errors=7, escalated=14)
    # New: all 25 automatic; the 4 moved comments moderators approved are wrong too.
    assert report.new == bt.Rates(judged=25, automatic=25, errors=11, escalated=0)
    assert report.old.error_rate == pytest.approx(7 / 11)
    assert report.new.escalation_rate == 0
    # "Current" is the latest rules decision, not the moderator's.
    assert report.replayed == N and report.changed == 20
    assert {c.expected for c in report.changes if c.comment_id in MOVED[:10]} == {"reject"}
    text = report.render()
    assert "Against 25 known answer(s) (moderator decisions):" in text
    assert "  automatic decision errors       63.6% (7/11)     44.0% (11/25)" in text
    assert "  escalated to a person          56.0% (14/25)       0.0% (0/25)" in text


def test_labels_file_and_json_output_from_the_command_line(
    session_factory, stored, new_rules, settings, tmp_path, monkeypatch, capsys
):
    from moderation import cli
    from moderation.settings import get_settings

    labels = tmp_path / "labels.csv"
    rows = [f"{c},1" for c in MOVED[:20]] + [f"{c},0" for c in APPROVED[:30]]
    rows += [f"{c},0" for c in REJECTED[:10]]
    labels.write_text("comment_id,label\n" + "\n".join(rows) + "\n")
    out = tmp_path / "report.json"
    monkeypatch.setenv("MODERATION_DATABASE_URL", settings.effective_database_url)
    get_settings.cache_clear()
    try:
        argv = ["rules", "backtest", str(new_rules), "--labels", str(labels), "--json", str(out)]
        assert cli.main([*argv, "--since", "7d"]) == 0
    finally:
        get_settings.cache_clear()
    stdout, stderr = capsys.readouterr()
    assert stderr == ""  # the progress bar is drawn only when stderr is a terminal
    assert f"Against 60 known answer(s) ({labels}):" in stdout
    assert f"report written to {out}" in stdout

    report = json.loads(out.read_text())
    assert report["rules"] == {"source": str(new_rules), "version": load_rules(new_rules).version}
    assert (report["replayed"], report["changed"]) == (N, 20)
    assert [c["comment_id"] for c in report["changes"]] == MOVED
    assert report["changes"][0] == {
        "comment_id": MOVED[0],
        "text": f"Comment {MOVED[0]} about the budget.",
        "old_action": "escalate",
        "old_rule": "borderline-toxicity",
        "new_action": "reject",
        "new_rule": "very-toxic",
        "expected": "reject",
    }
    assert report["table"]["escalate"] == {"approve": 0, "reject": 20, "escalate": 20}
    assert report["truth"] == str(labels)
    # Current: 20 escalated; 30 approvals right, 10 rejections wrong (labelled 0).
    assert report["old"] == {"judged": 60, "automatic": 40, "errors": 10, "escalated": 20,
                             "error_rate": 0.25, "escalation_rate": 20 / 60}  # fmt: skip
    assert report["new"] == {"judged": 60, "automatic": 60, "errors": 10, "escalated": 0,
                             "error_rate": 10 / 60, "escalation_rate": 0.0}  # fmt: skip
