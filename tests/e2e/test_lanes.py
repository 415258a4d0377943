"""Over real processes: a comment posted during a bulk import is decided before the import
finishes (the live lane goes first), and single posts queued while the worker is busy are
scored together."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select

from moderation.db import Comment, make_engine, make_session_factory
from tests.conftest import auth
from tests.e2e.test_pipeline import ARTICLE, wait_decision
from workers.worker import SCORING_PASSES_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PUB = auth("publisher")
BULK = 300


def text(i: int) -> str:
    return (
        f"Reader {i}: Pakistan looking to Moscow for helicopters says more about Washington's "
        "turn towards New Delhi than about any real change in Islamabad's defence planning. " * 3
    )


def decided_at(database_url: str) -> dict[str, object]:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as s:
        rows = dict(s.execute(select(Comment.id, Comment.decided_at)).tuples().all())
    engine.dispose()
    return rows


def test_a_live_comment_is_decided_before_a_running_bulk_import_finishes(
    database_url, redis_server, stack_factory
):
    stack = stack_factory(database_url, redis_server.url)
    stack.start_api()
    stack.start_worker()
    with httpx.Client(base_url=stack.url, headers=PUB, timeout=60) as c:
        assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
        items = [
            {"id": f"bulk-{i:03d}", "article_id": "pk-ru", "text": text(i),
             "author": {"id": f"r{i % 40}"}}
            for i in range(BULK)
        ]  # fmt: skip
        r = c.post("/v1/comments/batch", json={"comments": items})
        assert r.status_code == 202 and r.json()["accepted"] == BULK, r.text
        # Wait until the worker is busy with the import: its first comments are decided.
        deadline = time.monotonic() + 120
        while not any(decided_at(database_url).values()):
            assert time.monotonic() < deadline, stack.dump()
            time.sleep(0.2)
        r = c.post("/v1/comments", json={"id": "live", "article_id": "pk-ru",
                                         "text": "Good reporting, thanks.",
                                         "author": {"id": "live-reader"}})  # fmt: skip
        assert r.status_code == 202, r.text
        assert wait_decision(c, "live", timeout=120)["decision"] is not None, stack.dump()
        for i in (0, BULK - 1):
            assert wait_decision(c, f"bulk-{i:03d}", timeout=300)["decision"] is not None
    deadline = time.monotonic() + 300
    while not all((rows := decided_at(database_url)).values()):
        assert time.monotonic() < deadline, stack.dump()
        time.sleep(0.5)
    live = rows.pop("live")
    after = [cid for cid, at in rows.items() if at > live]  # type: ignore[operator]
    # Most of the import was still to be scored when the live comment was decided.
    assert len(after) >= BULK // 2, (len(after), stack.dump())


def test_single_posts_queued_while_the_worker_is_busy_are_scored_together(
    database_url, redis_server, stack_factory
):
    stack = stack_factory(database_url, redis_server.url)
    stack.start_api()
    n = 12
    with httpx.Client(base_url=stack.url, headers=PUB, timeout=60) as c:
        assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
        for i in range(n):  # queued before any worker runs: as if the worker were busy
            body = {"id": f"s{i}", "article_id": "pk-ru", "text": text(i), "author": {"id": "r"}}
            r = c.post("/v1/comments", json=body)
            assert r.status_code == 202, r.text
        stack.start_worker()
        for i in range(n):
            assert wait_decision(c, f"s{i}")["decision"] is not None, stack.dump()
    stats = {
        k.decode(): int(v) for k, v in redis_server.client().hgetall(SCORING_PASSES_KEY).items()
    }
    assert stats["jobs"] == n and stats["comments"] == n, stats
    assert stats["passes"] < n, stats  # with the default batch size: one pass
