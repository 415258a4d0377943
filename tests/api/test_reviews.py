"""The review queue API: listing with cursors, leases, moderators' decisions and overturns.

Service-level tests of the same modules are in tests/reviews/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select, update

from moderation.articles import upsert_article
from moderation.comments import NewComment, create_comment
from moderation.db import AuditEntry, Comment, DecidedBy, Score
from moderation.db.models import ReviewClaim, WebhookDelivery, utcnow
from moderation.decisions import record_decision
from moderation.policy import ReportReason
from moderation.reports import NewReport, record_report
from tests.conftest import API_KEYS_SPEC, auth
from tests.reviews._support import counting, seed_reviews

MOD = auth("moderator")
BOB_KEY = "bob-moderator-key-0123456789"
BOB = {"Authorization": f"Bearer {BOB_KEY}"}
ADMIN = auth("admin")
PUB = auth("publisher")
RULES_VERSION = "f" * 64


@pytest.fixture
def review_settings(settings):
    return settings.model_copy(
        update={
            "api_keys": f"{API_KEYS_SPEC},moderator/bob:{BOB_KEY}",
            # Long enough that no lease runs out while a test runs on a loaded machine; the
            # test of an expired lease moves its end into the past instead of sleeping.
            "review_lease_seconds": 300.0,
            "webhook_url": "http://127.0.0.1:9/hook",
            "webhook_secret": "s3cret",
        }
    )


@pytest.fixture
def api(review_settings):
    from moderation.api.main import create_app

    with TestClient(create_app(review_settings)) as test_client:
        yield test_client


def add_comment(
    session_factory,
    cid,
    text="What a stupid idea, honestly.",
    *,
    action="escalate",
    author="u1",
    parent=None,
    priority=0,
    toxicity=0.5,
    article="a1",
    at=None,
):
    with session_factory() as s:
        upsert_article(
            session=s,
            article_id=article,
            title=f"Bus lanes on Main Street ({article})",
            body="The council voted to add bus lanes on Main Street.",
        )
        comment, _ = create_comment(
            session=s,
            new=NewComment(
                id=cid, article_id=article, text=text, author_id=author, parent_id=parent,
                created_at=at,
            ),
        )  # fmt: skip
        s.add(
            Score(
                comment_id=cid,
                name="toxicity",
                value=toxicity,
                evidence={"model": "test", "spans": [{"start": 7, "end": 13, "text": text[7:13],
                                                      "weight": 1.2}]},
            )
        )  # fmt: skip
        s.add(Score(comment_id=cid, name="spam", value=0.1, evidence={"caps_ratio": 0.0}))
        if action is not None:
            record_decision(
                session=s,
                comment=comment,
                action=action,
                decided_by=DecidedBy.RULES,
                reasons=[{"rule": "borderline", "message": f"toxicity {toxicity:.2f}"}],
                rules_version=RULES_VERSION,
                rule="borderline",
                priority=priority,
                labels=["needs-eyes"] if action == "escalate" else [],
            )
        s.commit()


def audits(session_factory, cid):
    with session_factory() as s:
        return [
            (a.actor, a.action, a.from_state, a.to_state)
            for a in s.scalars(
                select(AuditEntry).where(AuditEntry.subject_id == cid).order_by(AuditEntry.id)
            )
        ]


def test_lists_escalated_comments_with_everything_a_moderator_needs(api, session_factory):
    add_comment(session_factory, "old", "An earlier approved comment.", action="approve")
    add_comment(session_factory, "parent", "The parent comment.", action="approve", author="u2")
    add_comment(session_factory, "c1", "What a stupid idea, honestly.", parent="parent")
    add_comment(session_factory, "pending", "Not decided yet.", action=None, author="u3")
    r = api.get("/v1/reviews", headers=MOD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["comment_id"] for i in body["items"]] == ["c1"]
    item = body["items"][0]
    assert item["status"] == "open" and item["claim"] is None
    assert item["article"]["title"] == "Bus lanes on Main Street (a1)"
    assert item["text"] == "What a stupid idea, honestly."
    assert item["scores"] == {"spam": 0.1, "toxicity": 0.5}
    assert item["evidence"]["toxicity"]["spans"][0]["text"] == "stupid"
    assert item["reasons"] == [{"rule": "borderline", "message": "toxicity 0.50"}]
    assert item["labels"] == ["needs-eyes"] and item["rules_version"] == RULES_VERSION
    history = item["author"]["history"]
    assert history["approved"] == 1 and history["rejected"] == 0
    assert [c["id"] for c in history["recent"]] == ["old"]
    assert item["parent"]["id"] == "parent" and item["parent"]["text"] == "The parent comment."
    assert body["counters"] == {"open": 1, "claimed": 0, "decided_today": 0}


def test_each_review_has_its_readers_reports_counted(api, session_factory):
    add_comment(session_factory, "c1")
    add_comment(session_factory, "c2", author="u2")
    with session_factory() as s:
        for reader, reason in (("r1", "abusive"), ("r2", "abusive"), ("r3", "spam")):
            new = NewReport(reporter_id=reader, reason=ReportReason(reason))
            record_report(session=s, comment_id="c1", new=new)
        s.commit()
    items = {i["comment_id"]: i for i in api.get("/v1/reviews", headers=MOD).json()["items"]}
    assert items["c1"]["reports"] == {
        "total": 3,
        "by_reason": {"abusive": 2, "off_topic": 0, "spam": 1, "other": 0},
        "unreviewed": 3,
    }
    assert items["c2"]["reports"]["total"] == 0


def test_roles_publisher_cannot_review(api, session_factory):
    assert api.get("/v1/reviews", headers=PUB).status_code == 403
    assert api.get("/v1/reviews").status_code == 401
    assert api.get("/v1/reviews", headers=ADMIN).status_code == 200


def test_cursor_pages_are_stable_when_new_escalations_arrive(api, session_factory):
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(5):
        add_comment(session_factory, f"c{n}", priority=n % 2, at=base + timedelta(minutes=n))
    seen: list[str] = []
    r = api.get("/v1/reviews", params={"limit": 2}, headers=MOD).json()
    seen += [i["comment_id"] for i in r["items"]]
    # A new, more urgent escalation arrives between pages: it must not shift later pages.
    add_comment(session_factory, "urgent", priority=9)
    while r["next_cursor"]:
        r = api.get("/v1/reviews", params={"limit": 2, "cursor": r["next_cursor"]}, headers=MOD)
        r = r.json()
        seen += [i["comment_id"] for i in r["items"]]
    assert seen == ["c1", "c3", "c0", "c2", "c4"]  # priority desc, then oldest first
    oldest = api.get("/v1/reviews", params={"sort": "oldest", "limit": 10}, headers=MOD).json()
    assert [i["comment_id"] for i in oldest["items"]][:5] == ["c0", "c1", "c2", "c3", "c4"]
    by_article = api.get("/v1/reviews", params={"article_id": "nope"}, headers=MOD).json()
    assert by_article["items"] == []
    bad = api.get("/v1/reviews", params={"cursor": "garbage"}, headers=MOD)
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "cursor"
    other_sort = api.get(
        "/v1/reviews", params={"cursor": r["next_cursor"] or _cursor(api), "sort": "toxicity"},
        headers=MOD,
    )  # fmt: skip
    assert other_sort.status_code == 422


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _cursor(api):
    return api.get("/v1/reviews", params={"limit": 1}, headers=MOD).json()["next_cursor"]


def test_two_moderators_claim_one_wins_and_an_expired_lease_frees_it(api, session_factory):
    add_comment(session_factory, "c1")
    first = api.post("/v1/reviews/c1/claim", headers=MOD)
    assert first.status_code == 200, first.text
    assert first.json()["moderator"] == "moderator-tester"
    second = api.post("/v1/reviews/c1/claim", headers=BOB)
    assert second.status_code == 409
    body = second.json()
    assert body["error"] == "claimed"
    assert body["claim"]["moderator"] == "moderator-tester"
    assert _when(body["claim"]["expires_at"]) == _when(first.json()["expires_at"])
    assert "moderator-tester" in body["message"]
    # Claimed: gone from the open queue, shown as claimed.
    assert api.get("/v1/reviews", headers=BOB).json()["items"] == []
    claimed = api.get("/v1/reviews", params={"status": "claimed"}, headers=BOB).json()
    assert [i["comment_id"] for i in claimed["items"]] == ["c1"]
    assert claimed["counters"]["claimed"] == 1
    # The holder may renew; deciding a comment someone else holds is refused.
    assert api.post("/v1/reviews/c1/claim", headers=MOD).status_code == 200
    taken = api.post("/v1/reviews/c1/decision", json={"action": "reject"}, headers=BOB)
    assert taken.status_code == 409 and taken.json()["claim"]["moderator"] == "moderator-tester"
    with session_factory() as s:  # the lease runs out
        s.execute(
            update(ReviewClaim)
            .where(ReviewClaim.comment_id == "c1")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        s.commit()
    assert [i["comment_id"] for i in api.get("/v1/reviews", headers=BOB).json()["items"]] == ["c1"]
    again = api.post("/v1/reviews/c1/claim", headers=BOB)
    assert again.status_code == 200 and again.json()["moderator"] == "bob"
    actions = [a[:2] for a in audits(session_factory, "c1")]
    assert ("moderator-tester", "review.claim") in actions
    assert ("moderator-tester", "review.renew") in actions
    assert ("system", "review.expire") in actions
    assert actions[-1] == ("bob", "review.claim")


def test_release_returns_the_comment_to_the_queue(api, session_factory):
    add_comment(session_factory, "c1")
    assert api.post("/v1/reviews/c1/claim", headers=MOD).status_code == 200
    assert api.post("/v1/reviews/c1/release", headers=BOB).status_code == 409
    assert api.post("/v1/reviews/c1/release", headers=MOD).status_code == 204
    assert api.post("/v1/reviews/c1/claim", headers=BOB).status_code == 200
    assert ("moderator-tester", "review.release", "claimed", "open") in audits(
        session_factory, "c1"
    )


def test_decision_ends_the_review_records_who_and_queues_the_webhook(
    api, session_factory, review_settings, redis_conn
):
    add_comment(session_factory, "c1")
    r = api.post(
        "/v1/reviews/c1/decision",
        json={"action": "approve", "reason_code": "satire", "note": "Reads as irony."},
        headers=MOD,
    )
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["action"] == "approve" and d["decided_by"] == "moderator"
    assert d["actor"] == "moderator-tester" and d["reason_code"] == "satire"
    assert d["note"] == "Reads as irony." and d["rules_version"] == RULES_VERSION
    comment = api.get("/v1/comments/c1", headers=PUB).json()
    assert comment["status"] == "approved" and comment["decision"]["decided_by"] == "moderator"
    twice = api.post("/v1/reviews/c1/decision", json={"action": "reject"}, headers=BOB)
    assert twice.status_code == 409
    assert twice.json()["error"] == "already_decided"
    assert twice.json()["decision"]["actor"] == "moderator-tester"
    assert api.get("/v1/reviews", headers=MOD).json()["items"] == []
    done = api.get("/v1/reviews", params={"status": "done"}, headers=MOD).json()
    assert [i["comment_id"] for i in done["items"]] == ["c1"]
    assert done["items"][0]["decision"]["action"] == "approve"
    assert done["counters"]["decided_today"] == 1
    actions = [a[:2] for a in audits(session_factory, "c1")]
    assert ("moderator-tester", "review.claim") in actions  # implicitly claimed
    assert ("moderator-tester", "comment.approve") in actions
    assert actions[-1] == ("moderator-tester", "review.decide")
    with session_factory() as s:
        deliveries = s.scalars(select(WebhookDelivery).where(WebhookDelivery.comment_id == "c1"))
        events = sorted((d.event, d.status) for d in deliveries)
    assert events == [("comment.decided", "pending")]
    # Held for the undo window: scheduled, not queued yet (tests/api/test_undo.py).
    queue = Queue(review_settings.webhook_queue, connection=redis_conn)
    assert queue.get_jobs() == []
    jobs = [queue.fetch_job(i) for i in ScheduledJobRegistry(queue=queue).get_job_ids()]
    assert [j.func_name for j in jobs if j] == ["workers.jobs.deliver_webhook"]


def test_deciding_validates_input_and_unknown_comments(api, session_factory):
    add_comment(session_factory, "c1")
    bad = api.post("/v1/reviews/c1/decision", json={"action": "escalate"}, headers=MOD)
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "action"
    assert (
        api.post("/v1/reviews/nope/decision", json={"action": "approve"}, headers=MOD).status_code
        == 404
    )
    assert api.post("/v1/reviews/nope/claim", headers=MOD).status_code == 404
    add_comment(session_factory, "p1", action=None)
    assert api.post("/v1/reviews/p1/claim", headers=MOD).status_code == 409


def test_moderator_overturns_an_automatic_decision(api, session_factory):
    add_comment(session_factory, "c1", "Harmless words.", action="approve")
    r = api.post("/v1/comments/c1/decision", json={"action": "reject", "note": "dog whistle"},
                 headers=MOD)  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["decided_by"] == "moderator" and r.json()["action"] == "reject"
    with session_factory() as s:
        assert s.get(Comment, ("default", "c1")).status == "rejected"
    assert ("moderator-tester", "comment.overturn", "approved", "rejected") in audits(
        session_factory, "c1"
    )
    same = api.post("/v1/comments/c1/decision", json={"action": "reject"}, headers=MOD)
    assert same.status_code == 409 and same.json()["decision"]["note"] == "dog whistle"
    assert (
        api.post("/v1/comments/c1/decision", json={"action": "approve"}, headers=PUB).status_code
        == 403
    )
    add_comment(session_factory, "p1", action=None)
    assert (
        api.post("/v1/comments/p1/decision", json={"action": "approve"}, headers=MOD).status_code
        == 409
    )
    # An escalated comment decided here goes through the review (and ends it).
    add_comment(session_factory, "e1")
    assert (
        api.post("/v1/comments/e1/decision", json={"action": "approve"}, headers=MOD).status_code
        == 201
    )
    assert ("moderator-tester", "review.decide", "claimed", "done") in audits(session_factory, "e1")


@pytest.mark.parametrize("status", ["open", "claimed", "done"])
def test_a_page_of_100_reviews_takes_the_queries_of_a_page_of_1(api, session_factory, status):
    engine = api.app.state.engine
    params = {"status": status, "limit": 200}
    seed_reviews(session_factory, 1)
    assert api.get("/v1/reviews", params=params, headers=MOD).status_code == 200  # connects
    api.app.state.sites.refresh()  # sites and keys read now: not the page's queries
    with counting(engine) as one:
        r = api.get("/v1/reviews", params=params, headers=MOD)
    assert [i["comment_id"] for i in r.json()["items"]] == [f"{status[0]}0"]
    seed_reviews(session_factory, 99, start=1)
    api.app.state.sites.refresh()  # sites and keys read now: not the page's queries
    with counting(engine) as hundred:
        r = api.get("/v1/reviews", params=params, headers=MOD)
    items = r.json()["items"]
    assert len(items) == 100 and {i["status"] for i in items} == {status}
    assert len({i["author"]["id"] for i in items}) == 7 and any(i["parent"] for i in items)
    assert all(i["author"]["history"]["approved"] >= 1 for i in items)
    if status == "claimed":
        assert {i["claim"]["moderator"] for i in items} == {"m0", "m1", "m2"}
    if status == "done":
        assert {i["decision"]["action"] for i in items} == {"approve", "reject"}
    assert one.count == hundred.count, "\n\n".join(s[:300] for s in hundred.sql)
    # rows, scores, (latest decisions,) author counts, author's recent comments, readers'
    # reports, counters
    assert hundred.count == (7 if status == "done" else 6), hundred.sql


def test_the_queue_is_searched_by_id_or_text_as_a_bound_parameter(api, session_factory):
    add_comment(session_factory, "c1", "The bus lanes are a 100% good idea.", author="ann")
    add_comment(
        session_factory, "c2", "Parking matters more than buses.", author="bob", article="a2"
    )
    add_comment(session_factory, "c3", "Nothing to see here.", author="cy")

    def found(q: str) -> list[str]:
        r = api.get("/v1/reviews", params={"q": q}, headers=MOD)
        assert r.status_code == 200, r.text
        return sorted(i["comment_id"] for i in r.json()["items"])

    assert found("BUS") == ["c1", "c2"]  # words in the text, any case
    assert found("bob") == ["c2"]  # an author id
    assert found("a2") == ["c2"]  # an article id
    assert found("c3") == ["c3"]  # a comment id
    assert found("100%") == ["c1"] and found("1%") == []  # % is a character, not a wildcard
    assert found("_") == []
    assert found("' OR 1=1 --") == []
    too_long = api.get("/v1/reviews", params={"q": "x" * 201}, headers=MOD)
    assert too_long.status_code == 422
