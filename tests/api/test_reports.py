"""Readers' reports: POST /v1/comments/{id}/reports (publisher) and its listing (moderator),
then the reconsideration job's work, run here in-process as a worker runs it
(``moderation.reconsideration``), against the shipped rules. The same over real processes
is tests/e2e/test_reports.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from rq import Queue
from sqlalchemy import func, select, update

from moderation.db import AuditEntry, Comment, CommentReport, Decision, Score
from moderation.db.models import WebhookDelivery, utcnow
from moderation.decisions import rules_context
from moderation.policy import load_rules
from moderation.queue import EXPLAIN_JOB, explain_queue
from moderation.reconsideration import (
    RECONSIDER_JOB,
    Outcome,
    reconsider_comments,
    sweep_reports,
)
from moderation.webhooks import webhook_queue
from tests.api.test_reviews import MOD, PUB, add_comment, audits
from tests.conftest import ROOT, auth

ADMIN = auth("admin")
DEFAULT_RULES = load_rules(ROOT / "rules" / "default.yaml")
ZERO = {"abusive": 0, "off_topic": 0, "spam": 0, "other": 0}


@pytest.fixture
def report_settings(settings):
    return settings.model_copy(update={"webhook_url": "http://127.0.0.1:9/hook"})


@pytest.fixture
def api(report_settings):
    from moderation.api.main import create_app

    with TestClient(create_app(report_settings)) as test_client:
        yield test_client


def report(api, cid, reader, reason="abusive", **extra):
    return api.post(
        f"/v1/comments/{cid}/reports",
        json={"reporter_id": reader, "reason": reason, **extra},
        headers=PUB,
    )


def reconsider(session_factory, settings, redis_conn, *ids):
    """What the worker's job does with the ids it is given."""
    return reconsider_comments(
        session_factory=session_factory,
        conn=redis_conn,
        settings=settings,
        ruleset=DEFAULT_RULES,
        comment_ids=list(ids),
    )


def queued_jobs(settings, redis_conn):
    return Queue(settings.queue, connection=redis_conn).get_jobs()


def deliveries(session_factory, cid):
    with session_factory() as s:
        rows = s.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.comment_id == cid)
            .order_by(WebhookDelivery.created_at)
        )
        return [(d.event, json.loads(d.body)) for d in rows]


def report_rows(session_factory):
    with session_factory() as s:
        return int(s.scalar(select(func.count(CommentReport.id))) or 0)


# --- the route ------------------------------------------------------------------------


def test_a_report_is_stored_counted_and_its_reconsideration_queued(
    api, session_factory, report_settings, redis_conn
):
    add_comment(
        session_factory, "c1", "Fair point about the buses.", action="approve", toxicity=0.1
    )
    r = report(api, "c1", "reader-1", "spam", note="Same text under every article.")
    assert r.status_code == 201, r.text
    body = r.json()
    created_at = body["report"].pop("created_at")
    assert body == {
        "comment_id": "c1",
        "reports": {"total": 1, "by_reason": ZERO | {"spam": 1}, "unreviewed": 1},
        "report": {"reporter_id": "reader-1", "reason": "spam",
                   "note": "Same text under every article."},
        "outcome": "reconsidering",
        "comment_status": "approved",
        "hidden_at": None,
    }  # fmt: skip
    assert created_at.endswith("Z") or "+00:00" in created_at
    [job] = queued_jobs(report_settings, redis_conn)
    assert job.func_name == RECONSIDER_JOB and job.args == (["c1"], "default")
    with session_factory() as s:
        row = s.scalar(select(CommentReport))
        assert row is not None and row.job_id == job.id and row.reconsidered_at is None
    assert ("publisher-1", "comment.reported", "approved", "approved") in audits(
        session_factory, "c1"
    )
    shown = api.get("/v1/comments/c1", headers=PUB).json()
    assert shown["reports"] == body["reports"] and shown["hidden_at"] is None


def test_the_same_reader_again_is_200_with_the_first_report_and_not_counted(
    api, session_factory, report_settings, redis_conn
):
    add_comment(session_factory, "c1", "Fair point.", action="approve", toxicity=0.1)
    first = report(api, "c1", "reader-1", "abusive")
    again = report(api, "c1", "reader-1", "spam", note="changed my mind")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["outcome"] == "duplicate"
    assert again.json()["report"] == first.json()["report"]  # the first one, as stored
    assert again.json()["reports"] == first.json()["reports"]
    assert again.json()["reports"]["total"] == 1
    assert len(queued_jobs(report_settings, redis_conn)) == 1  # no second job
    assert [a[1] for a in audits(session_factory, "c1")].count("comment.reported") == 1


def test_an_unknown_comment_is_404_and_nothing_is_written(api, session_factory):
    r = report(api, "nope", "reader-1")
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "message": "comment 'nope' does not exist",
                        "fields": []}  # fmt: skip
    assert api.get("/v1/comments/nope/reports", headers=MOD).status_code == 404
    assert report_rows(session_factory) == 0


REASONS = "Input should be 'abusive', 'off_topic', 'spam' or 'other'"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"reporter_id": "r1", "reason": "rude"}, "reason", REASONS),
        ({"reporter_id": "r1"}, "reason", "Field required"),
        ({"reporter_id": "", "reason": "spam"}, "reporter_id",
         "String should have at least 1 character"),
        ({"reporter_id": "r" * 201, "reason": "spam"}, "reporter_id",
         "String should have at most 200 characters"),
        ({"reporter_id": "r\n1", "reason": "spam"}, "reporter_id",
         "must not contain control characters (found '\\n')"),
        ({"reporter_id": "r1", "reason": "spam", "note": " "}, "note",
         "must not be empty or only whitespace"),
        ({"reporter_id": "r1", "reason": "spam", "note": "x" * 2001}, "note",
         "String should have at most 2000 characters"),
        ({"reporter_id": "r1", "reason": "spam", "score": 1}, "score",
         "Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_a_bad_report_is_422_naming_the_field_and_writes_nothing(
    api, session_factory, report_settings, redis_conn, body, field, message
):
    add_comment(session_factory, "c1", "Fair point.", action="approve", toxicity=0.1)
    before = audits(session_factory, "c1")
    r = api.post("/v1/comments/c1/reports", json=body, headers=PUB)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"
    assert [(f["field"], f["message"]) for f in r.json()["fields"]] == [(field, message)]
    assert r.json()["message"] == f"{field}: {message}"
    assert report_rows(session_factory) == 0 and audits(session_factory, "c1") == before
    assert queued_jobs(report_settings, redis_conn) == []


def test_an_oversized_body_is_413(api, session_factory):
    add_comment(session_factory, "c1", "Fair point.", action="approve", toxicity=0.1)
    big = {"reporter_id": "r1", "reason": "other", "note": "x" * (1024 * 1024)}
    r = api.post("/v1/comments/c1/reports", json=big, headers=PUB)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert report_rows(session_factory) == 0


def test_publishers_report_and_moderators_read_the_reports(api, session_factory):
    add_comment(session_factory, "c1", "Fair point.", action="approve", toxicity=0.1)
    assert report(api, "c1", "reader-2", "off_topic").status_code == 201
    assert report(api, "c1", "reader-1", "abusive", note="insults my family").status_code == 201
    mod = api.post("/v1/comments/c1/reports", json={"reporter_id": "m", "reason": "spam"},
                   headers=MOD)  # fmt: skip
    assert mod.status_code == 403
    assert api.get("/v1/comments/c1/reports", headers=PUB).status_code == 403
    listed = api.get("/v1/comments/c1/reports", headers=MOD).json()
    assert listed["comment_id"] == "c1"
    assert listed["reports"] == {
        "total": 2, "by_reason": ZERO | {"abusive": 1, "off_topic": 1}, "unreviewed": 2
    }  # fmt: skip
    assert [(i["reporter_id"], i["reason"], i["note"]) for i in listed["items"]] == [
        ("reader-2", "off_topic", None),
        ("reader-1", "abusive", "insults my family"),
    ]
    assert len(api.get("/v1/comments/c1/reports?limit=1", headers=ADMIN).json()["items"]) == 1
    assert api.get("/v1/comments/c1/reports?limit=0", headers=MOD).status_code == 422


def test_the_routes_are_in_the_openapi_document(api):
    doc = api.get("/openapi.json").json()
    post = doc["paths"]["/v1/comments/{comment_id}/reports"]["post"]
    assert {"200", "201", "401", "403", "404", "413", "415", "422", "503"} <= set(post["responses"])
    schema = doc["components"]["schemas"]["ReportCreate"]
    assert schema["properties"]["note"]["anyOf"][0]["maxLength"] == 2000
    assert set(doc["components"]["schemas"]["ReportReason"]["enum"]) == set(ZERO)
    get = doc["paths"]["/v1/comments/{comment_id}/reports"]["get"]
    assert {"200", "404", "422"} <= set(get["responses"])
    links = doc["paths"]["/v1/comments"]["post"]["responses"]["202"]["links"]
    assert {"post_comments_reports", "get_comments_reports"} <= set(links)


# --- what the job does ----------------------------------------------------------------


def test_an_approved_comment_goes_back_to_review_after_three_reports(
    api, session_factory, report_settings, redis_conn
):
    add_comment(
        session_factory, "c1", "Fair point about the buses.", action="approve", toxicity=0.1
    )
    with session_factory() as s:  # an approved comment's spans are left for when asked
        s.execute(
            update(Score)
            .where(Score.comment_id == "c1", Score.name == "toxicity")
            .values(evidence={"model": "test", "spans": None, "spans_pending": True})
        )
        s.commit()
    for reader, reason in [("r1", "abusive"), ("r2", "abusive")]:
        assert report(api, "c1", reader, reason).json()["outcome"] == "reconsidering"
    [result] = reconsider(session_factory, report_settings, redis_conn, "c1")
    assert result.outcome is Outcome.UNCHANGED  # two reports: the rules keep it
    assert report(api, "c1", "r3", "other").status_code == 201
    [result] = reconsider(session_factory, report_settings, redis_conn, "c1")
    assert result.outcome is Outcome.REQUEUED and not result.hidden
    # A moderator will read it now: its spans are queued.
    [explain] = explain_queue(redis_conn, report_settings).jobs
    assert explain.func_name == EXPLAIN_JOB and explain.args == (["c1"], "default")

    [review] = api.get("/v1/reviews", headers=MOD).json()["items"]
    assert review["comment_id"] == "c1" and review["status"] == "open"
    assert review["rule"] == "reported" and review["priority"] == 50
    assert review["reasons"] == [
        {"rule": "reported", "message": "reported by 3 readers (2 abusive, 1 other)"}
    ]
    assert review["labels"] == ["reported"]
    comment = api.get("/v1/comments/c1", headers=PUB).json()
    assert comment["status"] == "escalated" and comment["decision"]["decided_by"] == "rules"
    assert comment["decision"]["rules_version"] == DEFAULT_RULES.version
    assert [d["action"] for d in comment["decisions"]] == ["approve", "escalate"]
    # Still published: the publisher hears of it when a moderator decides (or it is hidden).
    assert [event for event, _ in deliveries(session_factory, "c1")] == []
    assert ("rules", "comment.requeue", "approved", "escalated") in audits(session_factory, "c1")
    with session_factory() as s:
        assert s.scalar(
            select(func.count(CommentReport.id)).where(CommentReport.reconsidered_at.is_(None))
        ) == 0  # fmt: skip

    # Running the job again (a retry, the sweeper) changes nothing.
    [again] = reconsider(session_factory, report_settings, redis_conn, "c1")
    assert again.outcome is Outcome.UNCHANGED
    assert len(api.get("/v1/comments/c1", headers=PUB).json()["decisions"]) == 2

    # The moderator's decision goes out as the usual webhook.
    r = api.post("/v1/reviews/c1/decision", json={"action": "reject"}, headers=MOD)
    assert r.status_code == 201, r.text
    assert [(e, b["action"]) for e, b in deliveries(session_factory, "c1")] == [
        ("comment.decided", "reject")
    ]


def test_a_published_comment_the_rules_would_now_reject_goes_to_a_person(
    api, session_factory, report_settings, redis_conn
):
    # Approved under an earlier version of the rules; today's reject it.
    add_comment(session_factory, "c1", "You absolute idiot.", action="approve", toxicity=0.96)
    assert report(api, "c1", "r1", "abusive").status_code == 201
    [result] = reconsider(session_factory, report_settings, redis_conn, "c1")
    assert result.outcome is Outcome.REQUEUED
    with session_factory() as s:
        comment = s.get(Comment, ("default", "c1"))
        assert comment is not None and comment.status == "escalated"
        latest = s.scalars(select(Decision).where(Decision.comment_id == "c1")).all()[-1]
    assert latest.action == "escalate" and latest.rule == "very-toxic" and latest.priority == 100
    assert latest.reasons == [
        {"rule": "system:reports", "message": "1 reader report (1 abusive) since it was "
         "approved; the rules would reject it (very-toxic), but it was published: a person "
         "decides"},
        {"rule": "very-toxic", "message": "toxicity 0.96"},
    ]  # fmt: skip


def test_a_moderators_approval_is_reopened_only_by_reports_made_after_it(
    api, session_factory, report_settings, redis_conn
):
    # Borderline toxicity: the rules escalated it, a moderator approved it.
    add_comment(session_factory, "c1", "What a stupid idea.", toxicity=0.6, priority=30)
    for reader in ("r1", "r2"):
        assert report(api, "c1", reader).status_code == 201
    assert api.post("/v1/reviews/c1/decision", json={"action": "approve"},
                    headers=MOD).status_code == 201  # fmt: skip
    assert report(api, "c1", "r3").json()["reports"] == {
        "total": 3, "by_reason": ZERO | {"abusive": 3}, "unreviewed": 1
    }  # fmt: skip
    [result] = reconsider(session_factory, report_settings, redis_conn, "c1")
    # The scores alone escalate it, as they did before the moderator approved it: no reopen.
    assert result.outcome is Outcome.UNCHANGED
    for reader in ("r4", "r5"):
        assert report(api, "c1", reader, "spam").status_code == 201
    [result] = reconsider(session_factory, report_settings, redis_conn, "c1")
    assert result.outcome is Outcome.REQUEUED  # three reports since the approval
    [review] = api.get("/v1/reviews", headers=MOD).json()["items"]
    assert review["rule"] == "reported" and review["priority"] == 50
    assert [r["rule"] for r in review["reasons"]] == ["borderline-toxicity", "reported"]
    assert review["reasons"][1]["message"] == "reported by 3 readers (1 abusive, 2 spam)"


def test_a_moderators_approval_of_a_rejected_comment_is_reopened_by_reports_alone(
    api, session_factory, report_settings, redis_conn
):
    # The rules rejected it, a moderator overturned that: the scores alone never reopen it,
    # though the rejection outranks the reports rule (priority 100 against 50).
    add_comment(session_factory, "c1", "You absolute idiot.", action="reject", toxicity=0.96)
    r = api.post("/v1/comments/c1/decision", json={"action": "approve"}, headers=MOD)
    assert r.status_code == 201, r.text
    assert report(api, "c1", "r1").status_code == 201
    [result] = reconsider(session_factory, report_settings, redis_conn, "c1")
    assert result.outcome is Outcome.UNCHANGED
    for reader in ("r2", "r3"):
        assert report(api, "c1", reader, "other").status_code == 201
    [result] = reconsider(session_factory, report_settings, redis_conn, "c1")
    assert result.outcome is Outcome.REQUEUED
    [review] = api.get("/v1/reviews", headers=MOD).json()["items"]
    assert review["rule"] == "very-toxic" and review["priority"] == 100
    assert review["reasons"] == [
        {"rule": "system:reports", "message": "3 reader reports (1 abusive, 2 other) since the "
         "moderator's approval; the rules would reject it (very-toxic), but it was published: "
         "a person decides"},
        {"rule": "very-toxic", "message": "toxicity 0.96"},
        {"rule": "reported", "message": "reported by 3 readers (1 abusive, 2 other)"},
    ]  # fmt: skip
    assert review["labels"] == ["abuse", "reported"]


def test_reports_raise_an_escalated_comments_review_priority(
    api, session_factory, report_settings, redis_conn
):
    add_comment(session_factory, "c1", "What a stupid idea.", toxicity=0.6, priority=30)
    for reader in ("r1", "r2", "r3"):
        assert report(api, "c1", reader).json()["outcome"] == "reconsidering"
    [result] = reconsider(session_factory, report_settings, redis_conn, "c1")
    assert result.outcome is Outcome.REPRIORITISED
    [review] = api.get("/v1/reviews", headers=MOD).json()["items"]
    assert review["priority"] == 50 and review["rule"] == "borderline"  # the same escalation
    assert review["labels"] == ["needs-eyes", "possibly-abusive", "reported"]
    assert review["reasons"] == [
        {"rule": "borderline", "message": "toxicity 0.60"},
        {"rule": "borderline-toxicity", "message": "toxicity 0.60"},
        {"rule": "reported", "message": "reported by 3 readers (3 abusive)"},
    ]
    assert ("rules", "review.reprioritise", "30", "50") in audits(session_factory, "c1")
    [again] = reconsider(session_factory, report_settings, redis_conn, "c1")
    assert again.outcome is Outcome.UNCHANGED


def test_reports_on_pending_and_rejected_comments_are_only_counted(
    api, session_factory, report_settings, redis_conn
):
    add_comment(session_factory, "p1", "Not decided yet.", action=None, toxicity=0.1)
    add_comment(session_factory, "x1", "Rejected already.", action="reject", toxicity=0.1)
    for reader in ("r1", "r2", "r3"):
        assert report(api, "p1", reader).json()["outcome"] == "counted"
    assert report(api, "x1", "r1").json()["outcome"] == "counted"
    results = reconsider(session_factory, report_settings, redis_conn, "p1", "x1", "gone")
    assert [r.outcome for r in results] == [Outcome.PENDING, Outcome.UNCHANGED, Outcome.GONE]
    with session_factory() as s:
        assert s.get(Comment, ("default", "p1")).status == "pending"  # type: ignore[union-attr]
        assert s.get(Comment, ("default", "x1")).status == "rejected"  # type: ignore[union-attr]
        # The scoring job sees the pending comment's reports (rules_context counts them).
        comment = s.get(Comment, ("default", "p1"))
        ctx = rules_context(s, comment, DEFAULT_RULES)  # type: ignore[arg-type]
    assert ctx.reports.total == 3
    assert DEFAULT_RULES.evaluate(ctx).rule == "reported"


def test_the_hide_threshold_hides_a_published_comment_once(
    session_factory, report_settings, redis_conn
):
    from moderation.api.main import create_app

    hiding = report_settings.model_copy(update={"report_hide_threshold": 2})
    with TestClient(create_app(hiding)) as api:
        add_comment(session_factory, "c1", "Fair point.", action="approve", toxicity=0.1)
        assert report(api, "c1", "r1", "spam").status_code == 201
        [result] = reconsider(session_factory, hiding, redis_conn, "c1")
        assert result.outcome is Outcome.UNCHANGED and not result.hidden
        assert report(api, "c1", "r2", "abusive").status_code == 201
        [result] = reconsider(session_factory, hiding, redis_conn, "c1")
        assert result.outcome is Outcome.REQUEUED and result.hidden

        comment = api.get("/v1/comments/c1", headers=PUB).json()
        assert comment["status"] == "escalated" and comment["hidden_at"] is not None
        assert comment["decision"]["decided_by"] == "system"
        [review] = api.get("/v1/reviews", headers=MOD).json()["items"]
        assert review["rule"] == "system:hidden-by-reports" and review["priority"] == 50
        assert review["labels"] == ["reported", "hidden"]
        assert review["reasons"] == [
            {"rule": "system:reports", "message": "2 reader reports (1 abusive, 1 spam) since "
             "it was approved; hidden pending review"}
        ]  # fmt: skip
        [(event, body)] = deliveries(session_factory, "c1")
        assert event == "comment.hidden"
        assert body == {
            "event": "comment.hidden",
            "comment_id": "c1",
            "article_id": "a1",
            "reasons": review["reasons"],
            "reports": {"total": 2, "by_reason": ZERO | {"abusive": 1, "spam": 1}},
            "hidden_at": comment["hidden_at"].replace("+00:00", "Z"),
        }
        jobs = Queue(hiding.webhook_queue, connection=redis_conn).get_jobs()
        assert [j.func_name for j in jobs] == ["workers.jobs.deliver_webhook"]
        assert ("system", "comment.hide", "published", "hidden") in audits(session_factory, "c1")

        # The third report reaches the rules' threshold: the review rises, no second hide.
        assert report(api, "c1", "r3", "abusive").status_code == 201
        [result] = reconsider(session_factory, hiding, redis_conn, "c1")
        assert result.outcome is Outcome.UNCHANGED and not result.hidden  # 50 already
        assert [e for e, _ in deliveries(session_factory, "c1")] == ["comment.hidden"]

        # The moderator approves: the usual decision webhook, and the comment is shown again.
        r = api.post("/v1/reviews/c1/decision", json={"action": "approve"}, headers=MOD)
        assert r.status_code == 201, r.text
        assert [(e, b.get("action")) for e, b in deliveries(session_factory, "c1")] == [
            ("comment.hidden", None),
            ("comment.decided", "approve"),
        ]
        # Reports after the moderator's approval count again, but hide it no more.
        for reader in ("r4", "r5", "r6"):
            assert report(api, "c1", reader).status_code == 201
        [result] = reconsider(session_factory, hiding, redis_conn, "c1")
        assert result.outcome is Outcome.REQUEUED and not result.hidden
        assert len(deliveries(session_factory, "c1")) == 2


def test_the_sweeper_queues_reports_whose_job_was_lost(
    api, session_factory, report_settings, redis_conn
):
    add_comment(session_factory, "c1", "Fair point.", action="approve", toxicity=0.1)
    assert report(api, "c1", "r1").status_code == 201
    redis_conn.flushdb()  # Redis lost the job
    with session_factory() as s:
        s.execute(update(CommentReport).values(created_at=utcnow() - timedelta(minutes=5)))
        s.commit()
    assert sweep_reports(session_factory=session_factory, conn=redis_conn,
                         settings=report_settings) == 1  # fmt: skip
    [job] = queued_jobs(report_settings, redis_conn)
    assert job.func_name == RECONSIDER_JOB and job.args == (["c1"], "default")
    # A live job: the next sweep leaves it alone; once reconsidered, nothing is left.
    redis_conn.delete("moderation:reports:sweeper:lock")
    assert sweep_reports(session_factory=session_factory, conn=redis_conn,
                         settings=report_settings) == 0  # fmt: skip
    reconsider(session_factory, report_settings, redis_conn, "c1")
    redis_conn.delete("moderation:reports:sweeper:lock")
    job.delete()
    assert sweep_reports(session_factory=session_factory, conn=redis_conn,
                         settings=report_settings) == 0  # fmt: skip
    assert webhook_queue(redis_conn, report_settings).get_jobs() == []
    with session_factory() as s:
        assert s.scalar(select(func.count(AuditEntry.id))) > 0
