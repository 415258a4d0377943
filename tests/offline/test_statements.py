"""``moderation export statements``: one DSA statement of reasons per removal in the period,
with the Transparency Database's mandatory fields and allowed values, never the comment's
text. Decisions are seeded in a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import csv
import json
from datetime import timedelta

import pytest

from moderation import cli, reasons
from moderation.db.models import Article, Comment, CommentReport, DecidedBy, utcnow
from moderation.decisions import record_decision
from moderation.offline import statements as st
from moderation.policy import Action

SECRET = "SECRET-TEXT-never-exported"


def _decide(s, comment, action, by, at, *, rule=None, code=None, reasons_=()):
    d = record_decision(
        session=s, comment=comment, action=action, decided_by=by,
        reasons=list(reasons_) or [{"rule": rule or "moderator", "message": f"kys {SECRET}"}],
        rules_version="v1", rule=rule or "moderator", reason_code=code,
    )  # fmt: skip
    d.decided_at = at
    return d


@pytest.fixture
def seeded(session_factory):
    now = utcnow()
    with session_factory() as s:
        s.add(Article(id="a1", title="t", body="b", content_hash="h", tags=[]))
        s.flush()

        def comment(cid, days_ago=1):
            at = now - timedelta(days=days_ago, hours=1)
            c = Comment(id=cid, article_id="a1", author_id="u", text=f"{SECRET} {cid}",
                        content_hash="h", created_at=at, received_at=at)  # fmt: skip
            s.add(c)
            s.flush()
            return c

        at = now - timedelta(days=1)
        # rules alone
        _decide(s, comment("rules-reject"), Action.REJECT, DecidedBy.RULES, at,
                rule="very-toxic", code="abuse")  # fmt: skip
        # rules escalate, moderator rejects (the escalation's suggested code)
        c = comment("escalated-rejected")
        _decide(s, c, Action.ESCALATE, DecidedBy.RULES, at, rule="threat", code="threat")
        _decide(s, c, Action.REJECT, DecidedBy.MODERATOR, at + timedelta(minutes=5),
                code="threat")  # fmt: skip
        # rules approve, readers report, a moderator removes it as illegal
        c = comment("reported-illegal")
        _decide(s, c, Action.APPROVE, DecidedBy.RULES, at - timedelta(hours=2))
        s.add(CommentReport(comment_id=c.id, reporter_id="r1", reason="abusive",
                            created_at=at - timedelta(hours=1)))  # fmt: skip
        _decide(s, c, Action.REJECT, DecidedBy.MODERATOR, at, code="illegal")
        # not removals: approved, escalated, rejected then approved, rejected long ago
        _decide(s, comment("approved"), Action.APPROVE, DecidedBy.RULES, at)
        _decide(s, comment("escalated"), Action.ESCALATE, DecidedBy.RULES, at, rule="threat")
        c = comment("overturned")
        _decide(s, c, Action.REJECT, DecidedBy.RULES, at, rule="spam", code="spam")
        _decide(s, c, Action.APPROVE, DecidedBy.MODERATOR, at + timedelta(minutes=1))
        _decide(s, comment("old", days_ago=40), Action.REJECT, DecidedBy.RULES,
                now - timedelta(days=40), rule="spam", code="spam")  # fmt: skip
        s.commit()
    return now


def _export(settings, monkeypatch, *argv):
    from moderation.settings import get_settings

    monkeypatch.setenv("MODERATION_DATABASE_URL", settings.effective_database_url)
    get_settings.cache_clear()
    try:
        return cli.main(["export", "statements", *argv])
    finally:
        get_settings.cache_clear()


def _check_record(record, since, until):
    assert set(record) == set(st.FIELDS)
    assert record["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert record["decision_ground"] in (reasons.GROUND_ILLEGAL, reasons.GROUND_INCOMPATIBLE)
    if record["decision_ground"] == reasons.GROUND_ILLEGAL:
        assert record["illegal_content_legal_ground"] and record["illegal_content_explanation"]
        assert record["incompatible_content_ground"] is None
    else:
        assert record["incompatible_content_ground"] and record["incompatible_content_explanation"]
        assert record["incompatible_content_illegal"] in ("Yes", "No")
        assert record["illegal_content_legal_ground"] is None
    assert record["category"] in reasons.DSA_CATEGORIES
    assert record["content_type"] == ["CONTENT_TYPE_TEXT"]
    assert record["source_type"] in st.SOURCE_TYPES
    assert record["automated_detection"] in ("Yes", "No")
    assert record["automated_decision"] in st.AUTOMATED_DECISIONS
    assert set(record["territorial_scope"]) <= set(st.EEA_COUNTRIES)
    assert 0 < len(record["decision_facts"]) <= 5000
    assert st._PUID.fullmatch(record["puid"])
    for name in ("content_date", "application_date"):
        assert since.strftime("%Y-%m-%d") <= record[name] <= until.strftime("%Y-%m-%d")
    assert record["content_date"] <= record["application_date"]


def test_one_record_per_removal_with_every_mandatory_field(seeded, settings, monkeypatch, tmp_path):
    out = tmp_path / "sor.jsonl"
    assert _export(settings, monkeypatch, "--since", "30d", "--out", str(out)) == 0
    text = out.read_text()
    assert SECRET not in text and "kys" not in text
    records = {r["puid"]: r for r in map(json.loads, text.splitlines())}
    assert sorted(records) == ["escalated-rejected", "reported-illegal", "rules-reject"]
    for record in records.values():
        _check_record(record, seeded - timedelta(days=30), seeded)

    auto = records["rules-reject"]
    assert (auto["automated_detection"], auto["automated_decision"]) == (
        "Yes", "AUTOMATED_DECISION_FULLY")  # fmt: skip
    assert auto["category"] == "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
    assert auto["source_type"] == "SOURCE_VOLUNTARY"
    assert auto["decision_facts"].startswith(reasons.get("abuse").text)
    assert "very-toxic" in auto["decision_facts"]

    both = records["escalated-rejected"]
    assert (both["automated_detection"], both["automated_decision"]) == (
        "Yes", "AUTOMATED_DECISION_PARTIALLY")  # fmt: skip
    assert both["category"] == "STATEMENT_CATEGORY_VIOLENCE"

    person = records["reported-illegal"]
    assert (person["automated_detection"], person["automated_decision"]) == (
        "No", "AUTOMATED_DECISION_NOT_AUTOMATED")  # fmt: skip
    assert person["source_type"] == "SOURCE_ARTICLE_16"
    assert person["decision_ground"] == reasons.GROUND_ILLEGAL


def test_csv_has_the_same_records(seeded, settings, monkeypatch, tmp_path):
    out = tmp_path / "sor.csv"
    argv = ("--since", "30d", "--out", str(out), "--format", "csv", "--territorial-scope", "DE,AT")
    assert _export(settings, monkeypatch, *argv) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["puid"] for r in rows] == ["rules-reject", "reported-illegal", "escalated-rejected"]
    assert all(json.loads(r["territorial_scope"]) == ["DE", "AT"] for r in rows)
    assert list(rows[0]) == list(st.FIELDS)


def test_a_short_window_leaves_older_removals_out(seeded, settings, monkeypatch, capsys):
    assert _export(settings, monkeypatch, "--since", "1h") == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "soon"], "argument --since: window 'soon' is not a positive duration"),
        (["--territorial-scope", "US"], "argument --territorial-scope: US: expected EU/EEA"),
    ],
)
def test_bad_options_are_named(argv, message, capsys):
    with pytest.raises(SystemExit):
        cli.main(["export", "statements", *argv])
    assert message in capsys.readouterr().err


def test_a_comment_id_the_database_refuses_becomes_a_stable_hash():
    assert st.puid("c-1_a") == "c-1_a"
    assert st.puid("c 1/é") == st.puid("c 1/é")
    assert st._PUID.fullmatch(st.puid("c 1/é"))
