"""POST/GET /v1/comments: accepted comments are stored and queued; bad input writes nothing."""

from __future__ import annotations

import json

import pytest
from rq import Queue
from sqlalchemy import event, func, select

from moderation.db import AuditEntry, Comment
from tests.conftest import auth

PUB = auth("publisher")


@pytest.fixture
def article(client):
    r = client.put(
        "/v1/articles/a1",
        json={
            "title": "Port strike enters second week",
            "body": "Dock workers walked out over pay.",
        },
        headers=PUB,
    )
    assert r.status_code == 201
    return r.json()


def comment(**over):
    body = {
        "id": "c1",
        "article_id": "a1",
        "text": "The dockers have a point.",
        "author": {"id": "u1"},
    }
    body.update(over)
    return body


def stored_comments(session_factory) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count(Comment.id))) or 0


def comment_audits(session_factory) -> int:
    with session_factory() as s:
        return (
            s.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.subject_type == "comment"))
            or 0
        )


def queued(settings, redis_conn) -> list[str]:
    """Job ids in both scoring lanes."""
    return [
        job_id
        for name in (settings.queue, settings.effective_bulk_queue)
        for job_id in Queue(name, connection=redis_conn).get_job_ids()
    ]


def test_accepted_comment_is_stored_pending_and_its_id_queued(
    client, article, settings, redis_conn, session_factory
):
    r = client.post("/v1/comments", json=comment(created_at="2026-11-01T10:00:00Z"), headers=PUB)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["id"] == "c1" and body["status"] == "pending" and body["decision"] is None
    assert body["decisions"] == [] and body["scores"] == {}
    assert body["created_at"].startswith("2026-11-01T10:00:00")
    jobs = Queue(settings.queue, connection=redis_conn).get_jobs()
    assert len(jobs) == 1
    assert jobs[0].func_name == "workers.jobs.score_comments"
    assert jobs[0].args == (["c1"], "default")  # the job carries only the id and its site
    with session_factory() as s:
        row = s.get(Comment, ("default", "c1"))
        assert row.status == "pending" and row.job_id == jobs[0].id and row.enqueued_at is not None


def test_same_id_same_content_returns_current_record(client, article, settings, redis_conn):
    assert client.post("/v1/comments", json=comment(), headers=PUB).status_code == 202
    r = client.post("/v1/comments", json=comment(), headers=PUB)
    assert r.status_code == 200
    assert r.json()["id"] == "c1"
    assert len(queued(settings, redis_conn)) == 1  # not queued twice


def test_same_id_other_text_is_a_conflict(client, article, session_factory):
    assert client.post("/v1/comments", json=comment(), headers=PUB).status_code == 202
    r = client.post("/v1/comments", json=comment(text="Edited text"), headers=PUB)
    assert r.status_code == 409
    assert r.json()["error"] == "conflict"
    assert "different text" in r.json()["message"]
    with session_factory() as s:
        assert s.get(Comment, ("default", "c1")).text == "The dockers have a point."


def test_read_comment_and_404(client, article):
    client.post("/v1/comments", json=comment(), headers=PUB)
    r = client.get("/v1/comments/c1", headers=PUB)
    assert r.status_code == 200 and r.json()["status"] == "pending"
    r = client.get("/v1/comments/nope", headers=PUB)
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_wait_returns_after_the_timeout_when_undecided(client, article):
    client.post("/v1/comments", json=comment(), headers=PUB)
    r = client.get("/v1/comments/c1", params={"wait": 0.5}, headers=PUB)
    assert r.status_code == 200 and r.json()["decision"] is None
    r = client.get("/v1/comments/c1", params={"wait": 31}, headers=PUB)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "wait"


def test_reply_needs_a_known_parent_on_the_same_article(client, article, session_factory):
    r = client.post("/v1/comments", json=comment(id="c2", parent_id="missing"), headers=PUB)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "parent_id"
    assert stored_comments(session_factory) == 0
    client.post("/v1/comments", json=comment(), headers=PUB)
    r = client.post("/v1/comments", json=comment(id="c2", parent_id="c1"), headers=PUB)
    assert r.status_code == 202 and r.json()["parent_id"] == "c1"


# --- bad input: 4xx naming the field, nothing stored -----------------------------------

LONG_ID = "x" * 201


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        (comment(text=""), 422, "text"),
        (comment(text=" \n\t  "), 422, "text"),
        ({k: v for k, v in comment().items() if k != "text"}, 422, "text"),
        ({k: v for k, v in comment().items() if k != "author"}, 422, "author"),
        (comment(author={"name": "no id"}), 422, "author.id"),
        (comment(author={"id": 42}), 422, "author.id"),
        (comment(text=123), 422, "text"),
        (comment(text=["a"]), 422, "text"),
        (comment(created_at="yesterday"), 422, "created_at"),
        (comment(id=LONG_ID), 422, "id"),
        (comment(id="bad\x00id"), 422, "id"),
        (comment(id="bad\nid"), 422, "id"),
        (comment(article_id="a\x07"), 422, "article_id"),
        (comment(parent_id=LONG_ID), 422, "parent_id"),
        (comment(surprise=True), 422, "surprise"),
        (comment(article_id="no-such-article"), 422, "article_id"),
        ([comment()], 422, "body"),
    ],
    ids=[
        "empty-text", "whitespace-text", "missing-text", "missing-author", "missing-author-id",
        "int-author-id", "int-text", "list-text", "bad-date", "long-id", "nul-in-id",
        "newline-in-id", "bell-in-article-id", "long-parent-id", "unknown-field",
        "unknown-article", "array-body",
    ],
)  # fmt: skip
def test_bad_comment_is_refused_naming_the_field(
    client, article, settings, redis_conn, session_factory, payload, status, field
):
    r = client.post("/v1/comments", json=payload, headers=PUB)
    assert r.status_code == status, r.text
    body = r.json()
    assert field in [f["field"] for f in body["fields"]], body
    assert body["error"] == "validation_error"
    assert field in body["message"]
    assert stored_comments(session_factory) == 0
    assert comment_audits(session_factory) == 0
    assert queued(settings, redis_conn) == []


def test_text_over_the_configured_limit(client, article, settings, session_factory, redis_conn):
    r = client.post(
        "/v1/comments", json=comment(text="a" * (settings.max_comment_chars + 1)), headers=PUB
    )
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "text"
    assert "10000" in r.json()["fields"][0]["message"]
    assert stored_comments(session_factory) == 0 and queued(settings, redis_conn) == []
    r = client.post(
        "/v1/comments", json=comment(text="a" * settings.max_comment_chars), headers=PUB
    )
    assert r.status_code == 202


def test_malformed_json(client, article, session_factory, settings, redis_conn):
    r = client.post(
        "/v1/comments",
        content=b'{"id": "c1", "text": ',
        headers=PUB | {"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"] == "malformed_json"
    assert r.json()["fields"][0]["field"] == "body"
    assert stored_comments(session_factory) == 0 and queued(settings, redis_conn) == []


def test_body_over_the_size_limit(client, article, session_factory, settings, redis_conn):
    big = json.dumps(comment(text="a" * (settings.max_body_bytes + 10))).encode()
    r = client.post("/v1/comments", content=big, headers=PUB | {"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large" and r.json()["fields"][0]["field"] == "body"

    def chunks():  # no Content-Length: counted as it streams
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    r = client.post(
        "/v1/comments", content=chunks(), headers=PUB | {"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["fields"][0]["field"] == "body"
    assert stored_comments(session_factory) == 0 and queued(settings, redis_conn) == []


# --- batch -----------------------------------------------------------------------------


def test_batch_stores_valid_items_and_reports_each_failure(
    client, article, settings, redis_conn, session_factory
):
    items = [
        comment(id="b1"),
        comment(id="b2", text=""),
        comment(id="b3", article_id="nope"),
        comment(id="b4", parent_id="b1"),
        comment(id="b1"),
        comment(id="b1", text="changed"),
        "not an object",
    ]
    r = client.post("/v1/comments/batch", json={"comments": items}, headers=PUB)
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["accepted"], body["duplicates"], body["failed"]) == (2, 1, 4)
    res = body["results"]
    assert [x["result"] for x in res] == [
        "accepted",
        "error",
        "error",
        "accepted",
        "duplicate",
        "error",
        "error",
    ]
    assert res[1]["error"]["fields"][0]["field"] == "text"
    assert res[2]["error"]["fields"][0]["field"] == "article_id"
    assert res[5]["status_code"] == 409
    assert res[6]["error"]["fields"][0]["field"] == "comments.6"
    assert res[0]["comment"]["status"] == "pending"
    assert stored_comments(session_factory) == 2
    jobs = Queue(settings.queue, connection=redis_conn).get_jobs()
    assert sorted(i for j in jobs for i in j.args[0]) == ["b1", "b4"]


def test_batch_is_chunked_into_jobs(client, article, settings, redis_conn):
    items = [comment(id=f"k{i}") for i in range(70)]
    r = client.post("/v1/comments/batch", json={"comments": items}, headers=PUB)
    assert r.json()["accepted"] == 70
    # Over live_batch_limit (64): the whole batch waits in the bulk lane.
    assert Queue(settings.queue, connection=redis_conn).get_jobs() == []
    jobs = Queue(settings.effective_bulk_queue, connection=redis_conn).get_jobs()
    assert [len(j.args[0]) for j in jobs] == [32, 32, 6]


def test_small_batches_and_single_comments_go_to_the_live_lane(
    client, article, settings, redis_conn, session_factory
):
    assert settings.live_batch_limit == 64
    client.post("/v1/comments", json=comment(id="single"), headers=PUB)
    small = [comment(id=f"s{i}") for i in range(64)]
    r = client.post("/v1/comments/batch", json={"comments": small}, headers=PUB)
    assert r.status_code == 202
    large = [comment(id=f"l{i}") for i in range(65)]
    r = client.post("/v1/comments/batch", json={"comments": large}, headers=PUB)
    assert r.status_code == 202
    live = Queue(settings.queue, connection=redis_conn).get_jobs()
    bulk = Queue(settings.effective_bulk_queue, connection=redis_conn).get_jobs()
    assert [j.args[0] for j in live][0] == ["single"]
    assert sorted(i for j in live[1:] for i in j.args[0]) == sorted(f"s{i}" for i in range(64))
    assert sorted(i for j in bulk for i in j.args[0]) == sorted(f"l{i}" for i in range(65))
    with session_factory() as s:  # each comment names its job, whichever the lane
        jobs = {j.id: set(j.args[0]) for j in [*live, *bulk]}
        for row in s.scalars(select(Comment)):
            assert row.job_id is not None and row.id in jobs[row.job_id], row.id


def test_batch_over_1000_items_is_refused(client, article, session_factory, settings, redis_conn):
    items = [comment(id=f"k{i}") for i in range(1001)]
    r = client.post("/v1/comments/batch", json={"comments": items}, headers=PUB)
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "comments"
    assert stored_comments(session_factory) == 0 and queued(settings, redis_conn) == []


def test_an_empty_batch_is_refused(client, session_factory, settings, redis_conn):
    r = client.post("/v1/comments/batch", json={"comments": []}, headers=PUB)
    assert r.status_code == 422
    [field] = r.json()["fields"]
    assert field["field"] == "comments"
    assert field["message"] == "List should have at least 1 item after validation, not 0"
    assert stored_comments(session_factory) == 0 and queued(settings, redis_conn) == []


def test_batch_body_over_its_limit(client, article, session_factory, settings, redis_conn):
    big = json.dumps(
        {"comments": [comment(text="a" * 9000, id=f"k{i}") for i in range(1900)]}
    ).encode()
    assert settings.max_body_bytes < len(big) > settings.max_batch_body_bytes
    r = client.post(
        "/v1/comments/batch", content=big, headers=PUB | {"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["fields"][0]["field"] == "body"
    assert stored_comments(session_factory) == 0 and queued(settings, redis_conn) == []


def test_batch_between_the_single_and_batch_limits_is_accepted(client, article):
    items = [comment(id=f"k{i}", text="word " * 1000) for i in range(300)]  # ~1.5 MB
    r = client.post("/v1/comments/batch", json={"comments": items}, headers=PUB)
    assert r.status_code == 202 and r.json()["accepted"] == 300


# --- database round trips --------------------------------------------------------------


def statements_for(client, call) -> list[str]:
    engine = client.app.state.session_factory.kw["bind"]
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("BEGIN"):  # SQLite's, sent by the engine; not PostgreSQL's
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen


def test_a_batch_costs_the_same_statements_for_1_or_300_comments(client, article, session_factory):
    def batch(prefix, n):
        items = [comment(id=f"{prefix}{i}", author={"id": f"u{i % 7}"}) for i in range(n)]
        items += [comment(id=f"{prefix}r{i}", parent_id=f"{prefix}{i}") for i in range(min(n, 3))]
        r = client.post("/v1/comments/batch", json={"comments": items}, headers=PUB)
        assert r.status_code == 202 and r.json()["failed"] == 0, r.text

    one = statements_for(client, lambda: batch("a", 1))
    many = statements_for(client, lambda: batch("b", 300))
    assert len(one) == len(many) <= 10, many
    assert stored_comments(session_factory) == 1 + 1 + 300 + 3
    assert comment_audits(session_factory) == stored_comments(session_factory)


def test_a_batch_retried_whole_reports_duplicates_and_conflicts_in_order(client, article):
    items = [comment(id=f"d{i}") for i in range(5)]
    assert (
        client.post("/v1/comments/batch", json={"comments": items}, headers=PUB).json()["accepted"]
        == 5
    )
    items[2] = comment(id="d2", text="changed")
    body = client.post("/v1/comments/batch", json={"comments": items}, headers=PUB).json()
    assert [r["result"] for r in body["results"]] == ["duplicate"] * 2 + ["error"] + [
        "duplicate"
    ] * 2
    assert body["results"][2]["status_code"] == 409


# --- a batch whose every item is refused --------------------------------------------------


def test_a_batch_whose_every_item_is_refused_is_422_naming_each_items_fields(
    client, article, settings, redis_conn, session_factory
):
    long = "a" * (settings.max_comment_chars + 1)
    items = [
        comment(id="e1", text=""),
        comment(id="e2", text=long),
        comment(id="e3", article_id="x"),
    ]
    r = client.post("/v1/comments/batch", json={"comments": items}, headers=PUB)
    assert r.status_code == 422, r.text
    body = r.json()
    too_long = "is 10001 characters long; the limit is 10000 (MODERATION_MAX_COMMENT_CHARS)"
    assert {k: body[k] for k in ("error", "message", "fields")} == {
        "error": "validation_error",
        "message": "every item of the batch was refused, nothing was stored: "
        "comments.0.text: must not be empty or only whitespace; "
        f"comments.1.text: {too_long}; "
        "comments.2.article_id: article 'x' does not exist",
        "fields": [
            {"field": "comments.0.text", "message": "must not be empty or only whitespace",
             "type": "value_error"},
            {"field": "comments.1.text", "message": too_long, "type": "string_too_long"},
            {"field": "comments.2.article_id", "message": "article 'x' does not exist",
             "type": "unknown_reference"},
        ],
    }  # fmt: skip
    assert (body["accepted"], body["duplicates"], body["failed"]) == (0, 0, 3)
    assert [(x["index"], x["id"], x["result"], x["status_code"]) for x in body["results"]] == [
        (0, "e1", "error", 422),
        (1, "e2", "error", 422),
        (2, "e3", "error", 422),
    ]
    assert stored_comments(session_factory) == 0 and comment_audits(session_factory) == 0
    assert queued(settings, redis_conn) == []


def test_a_batch_whose_every_item_conflicts_is_409(client, article, session_factory):
    assert client.post("/v1/comments", json=comment(id="k1"), headers=PUB).status_code == 202
    items = [comment(id="k1", text="changed")]
    r = client.post("/v1/comments/batch", json={"comments": items}, headers=PUB)
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "conflict"
    assert body["fields"] == [
        {
            "field": "comments.0",
            "message": "comment 'k1' already exists with different text; comment ids are "
            "immutable: send an edited comment under a new id",
            "type": "conflict",
        }
    ]
    assert stored_comments(session_factory) == 1


def test_a_batch_with_one_good_item_is_still_202(client, article, session_factory):
    items = [comment(id="g1"), comment(id="g2", text="")]
    r = client.post("/v1/comments/batch", json={"comments": items}, headers=PUB)
    assert r.status_code == 202 and (r.json()["accepted"], r.json()["failed"]) == (1, 1)
    assert stored_comments(session_factory) == 1


# --- once committed, accepted: the database going away afterwards is no 503 -------------


def test_comments_committed_before_the_database_locks_up_are_still_202(
    settings, redis_conn, tmp_path
):
    # Right after the comments' commit, another connection takes SQLite's write lock (a
    # real lock, held past the 0.2 s the API waits): recording the batch's job ids then
    # fails; the comments are stored and queued all the same, and the answer is 202.
    import sqlite3

    from fastapi.testclient import TestClient

    from moderation.api.main import create_app

    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the write lock of another process is SQLite's")
    locked = settings.model_copy(update={"database_url": settings.database_url + "?timeout=0.2"})
    path = settings.database_url.split("///", 1)[1]
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    with TestClient(create_app(locked)) as client:
        client.put("/v1/articles/a1", json={"title": "T", "body": "B"}, headers=PUB)
        engine = client.app.state.session_factory.kw["bind"]
        armed = []

        def lock_after_commit(dbapi_conn, record):  # the committed connection is back
            if armed:
                armed.clear()
                holder.execute("BEGIN IMMEDIATE")

        event.listen(engine, "checkin", lock_after_commit)
        try:
            for path_, payload in [
                ("/v1/comments", comment(id="s1")),
                ("/v1/comments/batch", {"comments": [comment(id="b1"), comment(id="b2")]}),
            ]:
                armed.append(True)
                r = client.post(path_, json=payload, headers=PUB)
                holder.execute("ROLLBACK")
                assert r.status_code == 202, r.text
        finally:
            event.remove(engine, "checkin", lock_after_commit)
            holder.close()
        assert r.json()["results"][0]["comment"]["status"] == "pending"
        with client.app.state.session_factory() as s:
            rows = {c.id: c.job_id for c in s.scalars(select(Comment))}
    jobs = Queue(settings.queue, connection=redis_conn).get_jobs()
    assert sorted(i for j in jobs for i in j.args[0]) == ["b1", "b2", "s1"]
    # The batch's job ids were to be recorded after its commit and were not: the sweeper
    # queues them again, harmlessly. The single comment's job id was stored with it.
    assert rows == {"s1": next(j.id for j in jobs if j.args[0] == ["s1"]), "b1": None, "b2": None}
