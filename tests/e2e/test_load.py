"""Load on the embedded default, over real processes: batches and single comments sent at
the same time while two workers decide, on SQLite and PostgreSQL. No 5xx; every accepted
comment is decided exactly once; the same comment sent ten times at once is one comment.

Before SQLite's transactions took the write lock up front, two overlapping batches failed
here with 500 "database is locked", and four concurrent creations of one article with 500
"UNIQUE constraint failed"."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import func, select

from moderation.db import AuditEntry, make_engine
from tests.conftest import auth
from tests.e2e.conftest import RedisServer, Stack
from tests.e2e.publisher import (
    DB_PARAMS,
    assert_decided_once,
    item,
    module_database,
    run_together,
    wait_first_decision,
)
from tests.e2e.test_pipeline import ARTICLE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PUB = auth("publisher")
BATCH = 60
"""Comments in each batch; the second round's two new batches share half of theirs."""
SINGLES = 10
"""Single posts per sender thread (two of them) in each round."""


@pytest.fixture(scope="module", params=DB_PARAMS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    yield from module_database(request, tmp_path_factory)


@pytest.fixture(scope="module")
def stack(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An API and two workers on the default settings, shared by the module's tests (one
    set per database). The workers load their models while the first comments arrive."""
    tmp = tmp_path_factory.mktemp("stack")
    redis_server = RedisServer(tmp / "redis")
    redis_server.start()
    stack = Stack(tmp, database, redis_server.url)
    try:
        stack.start_api()
        stack.start_worker()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()
        redis_server.kill()


def client(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers=PUB, timeout=120)


def test_batches_and_single_posts_at_once_while_two_workers_decide(stack: Stack, database: str):
    def put_article() -> list[httpx.Response]:
        with client(stack) as c:
            return [c.put("/v1/articles/pk-ru", json=ARTICLE)]

    # The same new article from four publisher threads at once: one row, no error.
    puts = run_together([put_article] * 4)
    assert sorted(r.status_code for r in puts) == [200, 200, 200, 201], [r.text for r in puts]

    tag = os.urandom(3).hex()

    def batch(name: str, first: int = 0) -> Callable[[], list[httpx.Response]]:
        def send() -> list[httpx.Response]:
            items = [item(f"{tag}-{name}-{i}", i) for i in range(first, first + BATCH)]
            with client(stack) as c:
                return [c.post("/v1/comments/batch", json={"comments": items})]

        return send

    def singles(name: str) -> Callable[[], list[httpx.Response]]:
        def send() -> list[httpx.Response]:
            with client(stack) as c:
                return [
                    c.post("/v1/comments", json=item(f"{tag}-{name}-{i}", 1000 + i))
                    for i in range(SINGLES)
                ]

        return send

    # Round one fills the queues. Round two arrives while both workers decide: two new
    # imports that share half their comments (two publisher threads sending overlapping
    # pages), the first import sent again whole (a retry), and single posts.
    responses = run_together([batch("a"), singles("s1"), singles("t1")])
    wait_first_decision(database, f"{tag}-", stack, timeout=180)
    responses += run_together(
        [batch("b"), batch("b", BATCH // 2), batch("a"), singles("s2"), singles("t2")]
    )
    failed = [(r.status_code, r.text[:300]) for r in responses if r.status_code >= 300]
    assert failed == [], (failed, stack.dump())
    accepted: set[str] = set()
    results: Counter[str] = Counter()
    for r in responses:
        body = r.json()
        if "results" in body:
            assert body["failed"] == 0, body
            results.update(x["result"] for x in body["results"])
            accepted |= {x["id"] for x in body["results"] if x["result"] == "accepted"}
        else:
            results["accepted" if r.status_code == 202 else "duplicate"] += 1
            accepted.add(body["id"])
    expected = {f"{tag}-a-{i}" for i in range(BATCH)}
    expected |= {f"{tag}-b-{i}" for i in range(BATCH + BATCH // 2)}
    expected |= {f"{tag}-{s}-{i}" for s in ("s1", "t1", "s2", "t2") for i in range(SINGLES)}
    assert accepted == expected
    # Each comment accepted once; every other sending of it is a duplicate.
    assert results == {"accepted": len(expected), "duplicate": BATCH + BATCH // 2}, results
    assert_decided_once(database, f"{tag}-", accepted, stack)


def test_the_same_comment_sent_ten_times_at_once_is_one_comment_decided_once(
    stack: Stack, database: str
):
    tag = os.urandom(3).hex()
    body = item(f"{tag}-same", 7)
    with client(stack) as c:  # the article exists when this test runs alone
        if c.get("/v1/articles/pk-ru").status_code == 404:
            assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201

    def send() -> list[httpx.Response]:
        with client(stack) as c:
            return [c.post("/v1/comments", json=body)]

    responses = run_together([send] * 10)
    # One request stored it; the nine others were told it is stored, with the same record.
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [202], [(r.status_code, r.text[:200]) for r in responses]
    same = {"id", "article_id", "parent_id", "author", "text", "created_at", "received_at"}
    views = [{k: v for k, v in r.json().items() if k in same} for r in responses]
    assert all(v == views[0] for v in views), views
    assert views[0]["id"] == f"{tag}-same" and views[0]["text"] == body["text"]
    assert_decided_once(database, f"{tag}-", {f"{tag}-same"}, stack, timeout=180)
    engine = make_engine(database)
    try:
        with engine.connect() as conn:
            received = conn.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(
                    AuditEntry.subject_id == f"{tag}-same",
                    AuditEntry.action == "comment.received",
                )
            )
    finally:
        engine.dispose()
    assert received == 1
