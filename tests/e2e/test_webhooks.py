"""Webhooks over real processes: the scoring worker decides, the webhook worker delivers the
outbox, RQ's scheduler retries a failing publisher with backoff until it answers 2xx; a
publisher that hangs holds no database transaction and no decision, and a webhook worker
killed mid-POST leaves the delivery to another, sent again byte for byte."""

from __future__ import annotations

import json
import signal
import sqlite3
import time

import httpx
import pytest
import redis as redis_lib
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from moderation import webhooks
from moderation.comments import get_comment
from moderation.db import DecidedBy, make_engine, make_session_factory
from moderation.db.models import Decision, WebhookDelivery
from moderation.decisions import record_decision
from moderation.settings import Settings
from tests.api.test_reviews import add_comment
from tests.conftest import auth
from tests.e2e.test_pipeline import ARTICLE, wait_decision
from tests.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRET = "publisher-shared-secret-for-tests"


def test_failing_publisher_gets_the_third_attempt_signed_and_identical(
    database_url, redis_server, stack_factory
):
    with Receiver(fail_first=2, fail_status=500) as receiver:
        stack = stack_factory(
            database_url,
            redis_server.url,
            MODERATION_WEBHOOK_URL=receiver.url,
            MODERATION_WEBHOOK_SECRET=SECRET,
            MODERATION_WEBHOOK_RETRY_INTERVALS="1,2,60",
        )
        stack.start_api()
        stack.start_worker()
        stack.start_webhook_worker()
        with httpx.Client(base_url=stack.url, headers=auth("publisher"), timeout=30) as c:
            assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
            r = c.post("/v1/comments", json={
                "id": "civil", "article_id": "pk-ru", "author": {"id": "reader-1"},
                "text": "Pakistan is hedging its bets now that Washington is so close to Delhi.",
            })  # fmt: skip
            assert r.status_code == 202, r.text
        receiver.wait_for(lambda r: r.status == 200, timeout=120)
        got = list(receiver.received)
    assert [r.status for r in got] == [500, 500, 200], stack.dump()
    assert len({r.body for r in got}) == 1
    assert len({r.headers["x-moderation-delivery"] for r in got}) == 1
    for r in got:
        assert webhooks.verify(r.body, SECRET, r.headers["x-moderation-signature"])
        assert r.headers["x-moderation-event"] == "comment.decided"
    payload = json.loads(got[0].body)
    assert payload["comment_id"] == "civil" and payload["decided_by"] == "rules"
    assert payload["action"] == "approve" and len(payload["rules_version"]) == 64

    with httpx.Client(base_url=stack.url, headers=auth("admin"), timeout=30) as c:
        deadline = time.monotonic() + 10
        while True:  # the third attempt is logged just after the receiver answers
            [entry] = c.get("/v1/webhooks/deliveries").json()
            if entry["status"] == "delivered" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert entry["id"] == got[0].headers["x-moderation-delivery"]
    assert entry["status"] == "delivered" and entry["body"].encode() == got[0].body
    assert [(a["number"], a["status_code"]) for a in entry["attempt_log"]] == [
        (1, 500), (2, 500), (3, 200)
    ]  # fmt: skip


# --- a slow or hanging publisher, and a webhook worker killed mid-POST ---------------------

PROBE_APP = "moderation-webhook-probe"


def _record_delivery(database_url: str, redis_url: str, url: str, cid: str = "c1") -> str:
    """A decided comment and its delivery, recorded and queued as a worker records them."""
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    add_comment(factory, cid, action=None)
    conn = redis_lib.Redis.from_url(redis_url)
    settings = Settings(_env_file=None, database_url=database_url, redis_url=redis_url)
    try:
        with factory() as s:
            record_decision(
                session=s, comment=get_comment(s, cid), action="reject", decided_by=DecidedBy.RULES,
                reasons=[], rules_version="r1", webhook_url=url,
            )  # fmt: skip
            s.commit()
            webhooks.enqueue_recorded(s, conn=conn, settings=settings)
            return str(
                s.scalar(select(WebhookDelivery.id).where(WebhookDelivery.comment_id == cid))
            )
    finally:
        conn.close()
        engine.dispose()


def _open_transactions_of(database_url: str) -> tuple[int, list[str]]:
    """PostgreSQL: how many connections the probed worker has, and the state of each one
    that is inside a transaction."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT state, xact_start FROM pg_stat_activity WHERE application_name = :app"
                ),
                {"app": PROBE_APP},
            ).all()
    finally:
        engine.dispose()
    return len(rows), [state for state, xact_start in rows if xact_start is not None]


def _sqlite_write_lock_is_free(database_url: str) -> bool:
    """SQLite: a writer takes the write lock at once (no waiting) while the POST hangs."""
    con = sqlite3.connect(make_url(database_url).database, timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        con.close()


def _delivery(database_url: str, delivery_id: str) -> tuple[str, list[tuple[int, int | None]]]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as s:
            d = webhooks.get_delivery(s, delivery_id)
            return d.status, [(a.number, a.status_code) for a in d.attempt_log]
    finally:
        engine.dispose()


def _wait_delivered(database_url: str, delivery_id: str, timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while True:
        status, attempts = _delivery(database_url, delivery_id)
        if status == "delivered" or time.monotonic() > deadline:
            return [status, attempts]
        time.sleep(0.2)


def test_no_transaction_is_open_during_the_post_and_a_worker_killed_mid_post_sends_the_same(
    database_url, redis_server, stack_factory
):
    """While the publisher keeps the POST hanging, the webhook worker holds no transaction
    (PostgreSQL: none of its connections is in one; SQLite: a writer takes the lock at once).
    Killed with -9 in the middle of that POST, another webhook worker sends the delivery again
    within the heartbeat TTL: same delivery id, same bytes, same signature, logged once."""
    with Receiver(hold=True) as receiver:
        stack = stack_factory(
            database_url,
            redis_server.url,
            MODERATION_WEBHOOK_SECRET=SECRET,
            MODERATION_WEBHOOK_TIMEOUT_SECONDS="60",
            MODERATION_WORKER_HEARTBEAT_TTL_SECONDS="2",
        )
        probed_url = database_url
        if database_url.startswith("postgresql"):
            probed_url = str(
                make_url(database_url)
                .update_query_dict({"application_name": PROBE_APP})
                .render_as_string(hide_password=False)
            )
        # No sweep while probing: a sweep's own short transaction is not what is measured.
        first = stack.start_webhook_worker(
            MODERATION_DATABASE_URL=probed_url, MODERATION_SWEEP_INTERVAL_SECONDS="3600"
        )
        delivery_id = _record_delivery(database_url, redis_server.url, receiver.url)
        receiver.wait_for(lambda r: True, timeout=60)  # the POST is in flight, held

        if database_url.startswith("postgresql"):
            connections, in_transaction = _open_transactions_of(database_url)
            assert connections >= 1, stack.dump()  # the worker's pooled connection, idle
            assert in_transaction == [], stack.dump()
        else:
            assert _sqlite_write_lock_is_free(database_url), stack.dump()

        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert len(receiver.received) == 1 and _delivery(database_url, delivery_id) == (
            "pending", []
        )  # fmt: skip
        stack.start_webhook_worker()  # reaps the dead worker's job once its heartbeat expires
        receiver.wait_for(lambda r: len(receiver.received) >= 2, timeout=60)
        receiver.release()
        status, attempts = _wait_delivered(database_url, delivery_id)
        got = list(receiver.received)
    assert status == "delivered" and attempts == [(1, 200)], stack.dump()
    assert len(got) == 2
    assert {r.headers["x-moderation-delivery"] for r in got} == {delivery_id}
    assert len({r.body for r in got}) == 1
    assert len({r.headers["x-moderation-signature"] for r in got}) == 1
    assert webhooks.verify(got[0].body, SECRET, got[0].headers["x-moderation-signature"])
    assert json.loads(got[0].body)["comment_id"] == "c1"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_hanging_publisher_does_not_hold_up_decisions(database_url, redis_server, stack_factory):
    """With the publisher's endpoint hanging on the first delivery, every comment is still
    decided; the deliveries wait their turn and all go out, once each, when it answers."""
    count = 6
    with Receiver(hold=True) as receiver:
        stack = stack_factory(
            database_url,
            redis_server.url,
            MODERATION_WEBHOOK_URL=receiver.url,
            MODERATION_WEBHOOK_SECRET=SECRET,
            MODERATION_WEBHOOK_TIMEOUT_SECONDS="120",
        )
        stack.start_api()
        stack.start_worker()
        stack.start_webhook_worker()
        stack.wait_ready()
        ids = [f"slow-{i}" for i in range(count)]
        with httpx.Client(base_url=stack.url, headers=auth("publisher"), timeout=40) as c:
            assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
            for i, cid in enumerate(ids):
                r = c.post("/v1/comments", json={
                    "id": cid, "article_id": "pk-ru", "author": {"id": f"reader-{i}"},
                    "text": f"Pakistan is hedging its bets with Russia, point {i}.",
                })  # fmt: skip
                assert r.status_code == 202, r.text
                if i == 0:  # the first delivery is now hanging in the webhook worker
                    receiver.wait_for(lambda r: True, timeout=60)
            decided = {cid: wait_decision(c, cid, timeout=60) for cid in ids}
        undecided = [cid for cid, body in decided.items() if body["decision"] is None]
        assert undecided == [], stack.dump()
        # Every decision is in while the first POST still hangs and the rest wait behind it.
        assert len(receiver.received) == 1
        engine = make_engine(database_url)
        factory = make_session_factory(engine)
        with factory() as s:
            waiting = s.execute(select(WebhookDelivery.comment_id, WebhookDelivery.status)).all()
            assert sorted(waiting) == [(cid, "pending") for cid in sorted(ids)]
        receiver.release()
        deadline = time.monotonic() + 60
        while len(receiver.received) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        got = list(receiver.received)
        with factory() as s:
            deliveries = s.scalars(select(WebhookDelivery)).all()
            counts = select(Decision.comment_id, func.count(Decision.id))
            per_comment = dict(s.execute(counts.group_by(Decision.comment_id)).tuples().all())
        engine.dispose()
    assert per_comment == {cid: 1 for cid in ids}  # one automatic decision each
    assert sorted(json.loads(r.body)["comment_id"] for r in got) == sorted(ids), stack.dump()
    assert len({r.headers["x-moderation-delivery"] for r in got}) == count
    assert {d.comment_id for d in deliveries} == set(ids) and len(deliveries) == count
