"""A busy or unreachable database is a 503 with Retry-After naming the database, and the
request wrote nothing, neither to the database nor to Redis."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from moderation.api.main import create_app
from moderation.db import Article, AuditEntry, Comment, make_engine, upgrade
from tests.conftest import auth, usual_settings

PUB = auth("publisher")
ARTICLE = {"title": "Port strike enters second week", "body": "Dock workers walked out."}


def comment(cid: str = "c1") -> dict:
    return {
        "id": cid,
        "article_id": "a1",
        "text": "The dockers have a point.",
        "author": {"id": "u1"},
    }


def writes(client: TestClient) -> list[tuple[str, int]]:
    """Every write the publisher can ask for, each answered as the test expects."""
    return [
        ("PUT article", client.put("/v1/articles/a2", json=ARTICLE, headers=PUB)),
        ("POST comment", client.post("/v1/comments", json=comment(), headers=PUB)),
        (
            "POST batch",
            client.post("/v1/comments/batch", json={"comments": [comment("b1")]}, headers=PUB),
        ),
    ]


def stored(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                int(conn.scalar(select(func.count()).select_from(t)) or 0)
                for t in (Article, Comment, AuditEntry)
            )
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'moderation.db'}?timeout=0.2"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def app_on(tmp_path: Path, redis_conn: redis_lib.Redis) -> Iterator:
    """``app_on(url)``: a running app (the tests' usual settings) on that database URL."""
    clients: list[TestClient] = []

    def make(url: str) -> TestClient:
        settings = usual_settings(url, tmp_path / "var")
        client = TestClient(create_app(settings))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_a_busy_sqlite_database_is_503_with_retry_after_and_nothing_written(
    app_on, sqlite_url: str, redis_conn: redis_lib.Redis
):
    client = app_on(sqlite_url)
    assert client.put("/v1/articles/a1", json=ARTICLE, headers=PUB).status_code == 201
    before = stored(sqlite_url)
    holder = sqlite3.connect(sqlite_url.split("///", 1)[1].split("?")[0], isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process keeps the write lock
        answered = writes(client)
        # Readers are not held up by the writer: they never wait for the write lock.
        assert client.get("/v1/comments/nope", headers=PUB).status_code == 404
        assert client.get("/v1/articles/a1", headers=PUB).json()["title"] == ARTICLE["title"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for what, r in answered:
        assert r.status_code == 503, (what, r.text)
        assert r.headers["retry-after"] == "2", what
        assert r.json() == {
            "error": "database_unavailable",
            "message": "the database is busy (SQLite: database is locked); "
            "the request was not carried out: retry in 2 s",
            "fields": [],
        }, what
    assert stored(sqlite_url) == before
    assert redis_conn.keys("*") == []
    # The lock is gone: the same requests go through, on the same app.
    assert [r.status_code for _, r in writes(client)] == [201, 202, 202]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_unreachable_database_is_503_with_retry_after_and_nothing_queued(
    app_on, tmp_path: Path, redis_conn: redis_lib.Redis, kind: str
):
    if kind == "sqlite":  # a directory where the file should be: it cannot be opened
        (tmp_path / "gone.db").mkdir()
        url, said = f"sqlite:///{tmp_path / 'gone.db'}", "SQLite: unable to open database file"
    else:  # nothing listens there
        port = _closed_port()
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/moderation"
        said = (
            "PostgreSQL: connection failed: connection to server at "
            f'"127.0.0.1", port {port} failed: Connection refused'
        )
    client = app_on(url)
    for what, r in [*writes(client), ("GET comment", client.get("/v1/comments/c1", headers=PUB))]:
        assert r.status_code == 503, (what, r.text)
        assert r.headers["retry-after"] == "5", what
        body = r.json()
        assert body["error"] == "database_unavailable", what
        assert body["message"] == (
            f"the database is unreachable ({said}); the request was not carried out: retry in 5 s"
        ), what
        assert "Traceback" not in r.text
    assert redis_conn.keys("*") == []
