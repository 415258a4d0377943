"""Authors: GET /v1/authors/{id}, PUT /v1/authors/{id}/status, POST /v1/authors/{id}/notes
(moderators), the status in the rules through the real scoring job run in-process (the spam
scorer only, with tests/fixtures/authors.yaml: the suggested author rules), pre-moderation
of a new author's first comments with the history condition, and the ban that rejects the
author's pending comments in one step."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from moderation.db import AuditEntry, Comment, Decision
from moderation.db.models import WebhookDelivery, utcnow
from moderation.db.session import make_engine
from moderation.rulebook import Rulebooks
from moderation.scoring import build_scorers
from tests.api.test_reviews import MOD, PUB, add_comment, audits
from tests.conftest import ROOT, auth
from workers.jobs import process_comments
from workers.runtime import Runtime

AUTHOR_RULES = ROOT / "tests" / "fixtures" / "authors.yaml"


@pytest.fixture
def author_settings(settings):
    return settings.model_copy(
        update={
            "webhook_url": "http://127.0.0.1:9/hook",
            "rules": AUTHOR_RULES,
            "scorers": "spam",
        }
    )


@pytest.fixture
def api(author_settings):
    from moderation.api.main import create_app

    with TestClient(create_app(author_settings)) as test_client:
        yield test_client


def put_status(api, author, **body):
    return api.put(f"/v1/authors/{author}/status", json=body, headers=MOD)


def post_comment(api, cid, author, text="Fair point about the bus lanes."):
    api.put(
        "/v1/articles/a1",
        json={"title": "Bus lanes on Main Street", "body": "The council voted for bus lanes."},
        headers=PUB,
    )
    r = api.post(
        "/v1/comments",
        json={"id": cid, "article_id": "a1", "text": text, "author": {"id": author}},
        headers=PUB,
    )
    assert r.status_code == 202, r.text


def score(author_settings, session_factory, redis_conn, *ids):
    """What a worker's scoring job does with the ids it is given."""
    scorers = build_scorers(author_settings, redis=None)
    rulebooks = Rulebooks(
        author_settings.rules, available_scores=scorers.labels, session_factory=session_factory
    )
    rulebooks.default.load()
    engine = make_engine(author_settings.effective_database_url)
    runtime = Runtime(author_settings, engine, session_factory, redis_conn, scorers, rulebooks)
    try:
        return process_comments(runtime, list(ids))
    finally:
        engine.dispose()


def decided(session_factory, cid):
    with session_factory() as s:
        d = s.scalars(select(Decision).where(Decision.comment_id == cid).order_by(Decision.id))
        last = list(d)[-1]
        return last.action, last.rule


def deliveries(session_factory, **where):
    with session_factory() as s:
        stmt = select(WebhookDelivery).order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(WebhookDelivery, key) == value)
        return [(d.event, json.loads(d.body)) for d in s.scalars(stmt)]


# --- the status --------------------------------------------------------------------------


def test_an_author_nobody_knows_is_404(api):
    r = api.get("/v1/authors/nobody", headers=MOD)
    assert r.status_code == 404
    assert r.json()["message"] == "author 'nobody' does not exist"


def test_the_author_page_has_status_counts_comments_with_decisions_and_notes(api, session_factory):
    add_comment(session_factory, "c1", "First.", action="approve", author="u1")
    add_comment(session_factory, "c2", "Second, rude.", action="reject", author="u1")
    add_comment(session_factory, "c3", "Third.", action=None, author="u1")
    add_comment(session_factory, "other", "Someone else.", action="approve", author="u2")
    note = api.post("/v1/authors/u1/notes", json={"text": "Argues in good faith."}, headers=MOD)
    assert note.status_code == 201, note.text
    assert note.json()["moderator"] == "moderator-tester"
    r = api.get("/v1/authors/u1", headers=MOD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "normal" and body["status_set"] is None
    assert body["counts"] == {"total": 3, "pending": 1, "approved": 1, "rejected": 1,
                              "escalated": 0}  # fmt: skip
    assert {c["id"]: (c["status"], c["decision"] and c["decision"]["action"])
            for c in body["comments"]} == {
        "c1": ("approved", "approve"), "c2": ("rejected", "reject"), "c3": ("pending", None)
    }  # fmt: skip
    assert body["comments"][0]["article_title"].startswith("Bus lanes")
    assert [n["text"] for n in body["notes"]] == ["Argues in good faith."]
    assert api.get("/v1/authors/u1", headers=PUB).status_code == 403
    assert ("moderator-tester", "author.note", None, None) in audits(session_factory, "u1")


def test_a_status_change_is_audited_and_sent_once(api, session_factory):
    r = put_status(api, "u1", status="premoderated", reason="new account, many links")
    assert r.status_code == 200, r.text
    assert r.json() == {"author_id": "u1", "status": "premoderated", "previous_status": "normal",
                        "suspended_until": None, "changed": True, "rejected": []}  # fmt: skip
    again = put_status(api, "u1", status="premoderated", reason="new account, many links")
    assert again.json()["changed"] is False
    assert audits(session_factory, "u1") == [
        ("moderator-tester", "author.status", "normal", "premoderated")
    ]
    [(event, body)] = deliveries(session_factory, author_id="u1")
    assert event == "author.updated"
    assert body["author_id"] == "u1" and body["status"] == "premoderated"
    assert body["previous_status"] == "normal" and body["reason"] == "new account, many links"
    page = api.get("/v1/authors/u1", headers=MOD).json()
    assert page["status_set"]["set_by"] == "moderator-tester"
    assert [(c["from_status"], c["to_status"]) for c in page["status_changes"]] == [
        ("normal", "premoderated")
    ]


def test_suspended_needs_a_future_until_and_runs_out(api, session_factory):
    def field_of(r):
        assert r.status_code == 422, r.text
        return [(f["field"], f["message"]) for f in r.json()["fields"]]

    assert field_of(put_status(api, "u1", status="suspended")) == [
        ("until", "required when the status is suspended")
    ]
    past = (utcnow() - timedelta(hours=1)).isoformat()
    assert field_of(put_status(api, "u1", status="suspended", until=past)) == [
        ("until", "must be in the future")
    ]
    future = (utcnow() + timedelta(days=7)).isoformat()
    assert field_of(put_status(api, "u1", status="banned", until=future)) == [
        ("until", "only a suspended author has one (status is banned)")
    ]
    assert field_of(put_status(api, "u1", status="trusted", reject_pending=True)) == [
        ("reject_pending", "only with suspended or banned (status is trusted)")
    ]
    [(name, message)] = field_of(put_status(api, "u1", status="banned", reason_code="rude"))
    assert name == "reason_code" and message.startswith("unknown reason code 'rude'")
    assert field_of(put_status(api, "u1", status="muted"))[0][0] == "status"
    r = put_status(api, "u1", status="suspended", until=future)
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert r.json()["suspended_until"] is not None
    with session_factory() as s:  # the suspension runs out
        from moderation.db import Author

        author = s.get(Author, ("default", "u1"))
        assert author is not None
        author.suspended_until = utcnow() - timedelta(seconds=1)
        s.commit()
    page = api.get("/v1/authors/u1", headers=MOD).json()
    assert page["status"] == "normal" and page["suspended_until"] is None
    assert page["status_set"]["status"] == "suspended"


# --- the status in the rules -------------------------------------------------------------


def test_the_rules_read_the_status_through_the_scoring_job(
    api, author_settings, session_factory, redis_conn
):
    for n in range(3):  # three earlier comments: past pre-moderation
        add_comment(session_factory, f"old-{n}", "Earlier.", action="approve", author="u1",
                    at=utcnow() - timedelta(days=2, minutes=n))  # fmt: skip
    statuses = {"p1": "premoderated", "b1": "banned", "t1": "trusted", "n1": "normal"}
    for cid, status in statuses.items():
        assert put_status(api, "u1", status=status).status_code == 200
        post_comment(api, cid, "u1")
        score(author_settings, session_factory, redis_conn, cid)
    assert decided(session_factory, "p1") == ("escalate", "premoderated-author")
    assert decided(session_factory, "b1") == ("reject", "banned-author")
    assert decided(session_factory, "t1") == ("approve", None)
    assert decided(session_factory, "n1") == ("approve", None)
    future = (utcnow() + timedelta(days=1)).isoformat()
    put_status(api, "u1", status="suspended", until=future)
    post_comment(api, "s1", "u1")
    score(author_settings, session_factory, redis_conn, "s1")
    assert decided(session_factory, "s1") == ("reject", "suspended-author")


def test_a_new_authors_first_three_comments_are_premoderated(
    api, author_settings, session_factory, redis_conn
):
    for n in range(4):
        post_comment(api, f"new-{n}", "newcomer", text=f"Comment number {n} on the lanes.")
        score(author_settings, session_factory, redis_conn, f"new-{n}")
    assert [decided(session_factory, f"new-{n}") for n in range(4)] == [
        ("escalate", "new-author"),
        ("escalate", "new-author"),
        ("escalate", "new-author"),
        ("approve", None),
    ]
    # A trusted newcomer skips it.
    put_status(api, "other", status="trusted")
    post_comment(api, "trusted-0", "other")
    score(author_settings, session_factory, redis_conn, "trusted-0")
    assert decided(session_factory, "trusted-0") == ("approve", None)


# --- the ban that rejects pending comments -----------------------------------------------


def test_a_ban_rejects_pending_and_escalated_comments_in_one_step(api, session_factory):
    add_comment(session_factory, "pending", "Not scored yet.", action=None, author="u1")
    add_comment(session_factory, "queued", "In the review queue.", action="escalate", author="u1")
    add_comment(session_factory, "fine", "Published.", action="approve", author="u1")
    add_comment(session_factory, "theirs", "Someone else's.", action=None, author="u2")
    r = put_status(api, "u1", status="banned", reason="spam under every article",
                   reason_code="spam", reject_pending=True)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["rejected"] == ["pending", "queued"]
    with session_factory() as s:
        status = dict(s.execute(select(Comment.id, Comment.status)).tuples().all())
    assert status == {"pending": "rejected", "queued": "rejected", "fine": "approved",
                      "theirs": "pending"}  # fmt: skip
    for cid in ("pending", "queued"):
        [(event, body)] = deliveries(session_factory, comment_id=cid)
        assert (event, body["action"], body["decided_by"]) == (
            "comment.decided", "reject", "moderator"
        )  # fmt: skip
        assert body["reason_code"] == "spam"
        assert ("moderator-tester", "comment.reject") in [
            a[:2] for a in audits(session_factory, cid)
        ]
    assert ("moderator-tester", "review.decide", "open", "done") in audits(
        session_factory, "queued"
    )
    [(event, body)] = deliveries(session_factory, author_id="u1")
    assert event == "author.updated" and body["rejected_comment_ids"] == ["pending", "queued"]
    with session_factory() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "author.status"))
        assert entry is not None and entry.detail["rejected"] == ["pending", "queued"]
        decision = s.scalar(select(Decision).where(Decision.comment_id == "pending"))
        assert decision is not None and decision.note == "spam under every article"
    # A retry changes nothing and sends nothing.
    again = put_status(api, "u1", status="banned", reason="spam under every article",
                       reason_code="spam", reject_pending=True)  # fmt: skip
    assert again.json()["changed"] is False and again.json()["rejected"] == []
    assert len(deliveries(session_factory)) == 3
    page = api.get("/v1/authors/u1", headers=MOD).json()
    assert page["counts"]["rejected"] == 2 and page["status"] == "banned"


def test_an_author_event_is_listed_with_the_deliveries(api):
    put_status(api, "u1", status="banned")
    r = api.get("/v1/webhooks/deliveries", headers=auth("admin"))
    assert r.status_code == 200, r.text
    [delivery] = r.json()
    assert (delivery["event"], delivery["comment_id"], delivery["author_id"]) == (
        "author.updated",
        None,
        "u1",
    )
