"""What the load and outage tests share: a publisher's comments, requests sent at once, a
database of the module's own, and the check that ends each of them (every accepted comment
has exactly one automatic decision, and nothing else was stored)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from moderation.db import Comment, Decision, make_engine
from tests.conftest import DB_PARAMS, _truncate_all, migrated_database
from tests.e2e.conftest import Stack

_OPENINGS = [
    "Pakistan buying Russian helicopters",
    "The deal with Moscow",
    "Islamabad's new arms policy",
    "Washington's turn towards New Delhi",
    "China's role as the main supplier",
    "This article",
]
_VIEWS = [
    "is a hedge, nothing more.",
    "says more about India than about Russia.",
    "will not change the balance of power in South Asia.",
    "is exactly what the army chief wanted.",
    "is being overstated by the analysts quoted here.",
    "shows how little the Kremlin cares about old friends.",
    "is written by an idiot who knows nothing, shut up.",
    "makes sense: buy from whoever sells.",
]


def comment_text(i: int) -> str:
    """Distinct, varied comments on the test article (one in eight is abusive)."""
    opening = _OPENINGS[i % len(_OPENINGS)]
    view = _VIEWS[(i // len(_OPENINGS)) % len(_VIEWS)]
    return f"{opening} {view} (reader note {i})"


def item(cid: str, i: int) -> dict:
    return {
        "id": cid,
        "article_id": "pk-ru",
        "text": comment_text(i),
        "author": {"id": f"r{i % 37}"},
    }


def run_together(calls: list[Callable[[], list[httpx.Response]]]) -> list[httpx.Response]:
    """Run the calls in threads that start at the same moment; their responses, in order."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], list[httpx.Response]]) -> list[httpx.Response]:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return [r for rs in pool.map(run, calls) for r in rs]


def automatic_decisions(database_url: str, prefix: str) -> tuple[set[str], Counter[str]]:
    """The stored comments whose id starts with ``prefix``, and how many automatic decisions
    (by the rules, or the system's escalation) each has."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            ids = set(conn.scalars(select(Comment.id).where(Comment.id.startswith(prefix))))
            rows = conn.execute(
                select(Decision.comment_id, func.count())
                .where(Decision.comment_id.startswith(prefix), Decision.decided_by != "moderator")
                .group_by(Decision.comment_id)
            ).tuples()
            counts = Counter(dict(rows.all()))
    finally:
        engine.dispose()
    return ids, counts


def wait_first_decision(database_url: str, prefix: str, stack: Stack, timeout: float) -> None:
    """Until some comment under ``prefix`` is decided: the workers have loaded and are busy."""
    deadline = time.monotonic() + timeout
    while not automatic_decisions(database_url, prefix)[1]:
        assert time.monotonic() < deadline, "no decision yet\n" + stack.dump()
        time.sleep(0.3)


def assert_decided_once(
    database_url: str, prefix: str, accepted: set[str], stack: Stack, timeout: float = 240
) -> None:
    """Wait until every accepted comment has an automatic decision, then check that the
    comments stored under ``prefix`` are exactly those, each decided exactly once."""
    deadline = time.monotonic() + timeout
    while True:
        ids, counts = automatic_decisions(database_url, prefix)
        undecided = accepted - set(counts)
        if not undecided or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not undecided, (f"{len(undecided)} undecided: {sorted(undecided)[:5]}", stack.dump())
    assert ids == accepted, (sorted(ids ^ accepted)[:10], stack.dump())
    assert {cid: n for cid, n in counts.items() if n != 1} == {}


def module_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database for one module's stack (``request.param``: one of
    ``DB_PARAMS``); PostgreSQL is the session's test database, emptied before and after."""
    url = migrated_database(request, tmp_path_factory.mktemp("db"))
    yield url
    if request.param != "sqlite":
        _truncate_all(url)


__all__ = [
    "DB_PARAMS",
    "assert_decided_once",
    "automatic_decisions",
    "comment_text",
    "item",
    "module_database",
    "run_together",
    "wait_first_decision",
]
