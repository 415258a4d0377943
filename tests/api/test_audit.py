"""GET /v1/audit: a comment's or an author's audit rows, newest first, for moderators, a
page at a time (the cursor keeps its place when rows are written meanwhile)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from moderation import audit
from tests.api.test_reviews import MOD, PUB, add_comment


@pytest.fixture
def api(settings):
    from moderation.api.main import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_a_comments_history_newest_first_with_who_what_and_from_which_state(api, session_factory):
    add_comment(session_factory, "c1")
    assert api.post("/v1/reviews/c1/claim", headers=MOD).status_code == 200
    r = api.post("/v1/reviews/c1/decision", json={"action": "reject"}, headers=MOD)
    assert r.status_code == 201, r.text
    body = api.get("/v1/audit", params={"comment_id": "c1"}, headers=MOD).json()
    rows = [(e["actor"], e["action"], e["from_state"], e["to_state"]) for e in body["items"]]
    assert rows[:4] == [
        ("moderator-tester", "review.decide", "claimed", "done"),
        ("moderator-tester", "comment.reject", "escalated", "rejected"),
        ("moderator-tester", "review.renew", "claimed", "claimed"),  # deciding holds it
        ("moderator-tester", "review.claim", "open", "claimed"),
    ]
    decide = body["items"][0]
    assert decide["subject_type"] == "comment" and decide["subject_id"] == "c1"
    assert decide["detail"]["action"] == "reject"
    ids = [e["id"] for e in body["items"]]
    assert ids == sorted(ids, reverse=True)
    assert body["next_cursor"] is None


def test_an_authors_history_and_paging_by_cursor(api, session_factory):
    add_comment(session_factory, "c1", author="u9")
    for n in range(5):
        r = api.post("/v1/authors/u9/notes", json={"text": f"note {n}"}, headers=MOD)
        assert r.status_code == 201
    r = api.put("/v1/authors/u9/status", json={"status": "banned", "reason_code": "spam"},
                headers=MOD)  # fmt: skip
    assert r.status_code == 200, r.text
    first = api.get("/v1/audit", params={"author_id": "u9", "limit": 4}, headers=MOD).json()
    assert [e["action"] for e in first["items"]] == ["author.status"] + ["author.note"] * 3
    status = first["items"][0]
    assert (status["from_state"], status["to_state"]) == ("normal", "banned")
    assert status["detail"]["reason_code"] == "spam"
    # A row written between two pages does not shift the next one.
    assert api.post("/v1/authors/u9/notes", json={"text": "later"}, headers=MOD).status_code == 201
    params = {"author_id": "u9", "limit": 4, "cursor": first["next_cursor"]}
    second = api.get("/v1/audit", params=params, headers=MOD).json()
    assert [e["action"] for e in second["items"]] == ["author.note"] * 2
    assert second["next_cursor"] is None
    seen = [e["id"] for e in first["items"] + second["items"]]
    assert len(set(seen)) == 6
    # The comment's rows are not the author's.
    assert all(e["subject_type"] == "author" for e in first["items"] + second["items"])


def test_audit_needs_a_moderator_one_id_and_a_real_cursor(api, session_factory):
    assert api.get("/v1/audit", params={"comment_id": "c1"}).status_code == 401
    assert api.get("/v1/audit", params={"comment_id": "c1"}, headers=PUB).status_code == 403
    neither = api.get("/v1/audit", headers=MOD)
    assert neither.status_code == 422
    assert neither.json()["message"] == "comment_id: give exactly one of comment_id and author_id"
    both = api.get("/v1/audit", params={"comment_id": "c1", "author_id": "u1"}, headers=MOD)
    assert both.status_code == 422
    bad = api.get("/v1/audit", params={"comment_id": "c1", "cursor": "a1x"}, headers=MOD)
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "cursor"
    assert api.get("/v1/audit", params={"comment_id": "nobody"}, headers=MOD).json() == {
        "items": [],
        "next_cursor": None,
    }


def test_list_entries_pages_newest_first(session_factory):
    with session_factory() as s:
        for n in range(3):
            audit.record(s, actor="m", action=f"x.{n}", subject_type="comment", subject_id="c")
        s.commit()
        page = audit.list_entries(s, subject_type="comment", subject_id="c", limit=2)
        assert [e.action for e in page.entries] == ["x.2", "x.1"]
        rest = audit.list_entries(
            s, subject_type="comment", subject_id="c", cursor=page.next_cursor, limit=2
        )
        assert [e.action for e in rest.entries] == ["x.0"] and rest.next_cursor is None
