"""Storing comments and articles when another request stores the same id at the same moment:
the one that loses the race gets the stored row, and the rest of its transaction stays.

The race is made certain, not hoped for: just before this session's INSERT reaches the
database, another connection inserts and commits the same id. PostgreSQL only: SQLite
serializes writers (every transaction takes the write lock first), so there it cannot
happen."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, event, func, insert, select

from moderation.articles import upsert_article
from moderation.comments import NewComment, create_comment, create_comments
from moderation.db import Article, AuditEntry, Comment, make_engine, make_session_factory


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serializes writers: no two transactions can race for an id")
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            insert(Article), [{"id": "a1", "title": "T", "body": "B", "content_hash": "h"}]
        )
    yield engine
    engine.dispose()


def just_before_insert_into(engine: Engine, table: str, race: Callable[[], None]) -> None:
    """Run ``race`` (on another connection) once, right before this engine inserts into
    ``table``."""
    done = False

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        nonlocal done
        if not done and statement.startswith(f"INSERT INTO {table} "):
            done = True
            race()

    event.listen(engine, "before_cursor_execute", before)


def other_request_stores(database_url: str, new: NewComment) -> Callable[[], None]:
    def race() -> None:
        other = make_engine(database_url)
        try:
            with make_session_factory(other)() as session:
                create_comment(session=session, new=new)
                session.commit()
        finally:
            other.dispose()

    return race


def new(cid: str, text: str = "Dockers have a point.") -> NewComment:
    return NewComment(id=cid, article_id="a1", text=text, author_id="u1")


def count(engine: Engine, model: type, **where: str) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return int(conn.scalar(stmt) or 0)


def test_a_comment_that_loses_the_race_undoes_only_itself(engine: Engine, database_url: str):
    factory = make_session_factory(engine)
    with factory() as session:
        kept, created = create_comment(session=session, new=new("kept"))
        assert created
        just_before_insert_into(engine, "comments", other_request_stores(database_url, new("x")))
        comment, created = create_comment(session=session, new=new("x"))
        assert (comment.id, created) == ("x", False)  # the other request's row
        session.commit()
    # The comment stored earlier in the same transaction is still there.
    assert count(engine, Comment) == 2
    assert count(engine, AuditEntry, subject_id="kept") == 1
    assert count(engine, AuditEntry, subject_id="x") == 1


def test_a_batch_that_loses_the_race_for_one_id_stores_the_others(
    engine: Engine, database_url: str
):
    factory = make_session_factory(engine)
    with factory() as session:
        just_before_insert_into(engine, "comments", other_request_stores(database_url, new("b2")))
        results = create_comments(session=session, news=[new("b1"), new("b2"), new("b3")])
        session.commit()
    assert [(r[0].id, r[1]) for r in results if isinstance(r, tuple)] == [
        ("b1", True),
        ("b2", False),
        ("b3", True),
    ]
    assert count(engine, Comment) == 3
    assert count(engine, AuditEntry, action="comment.received") == 3


def test_an_article_created_twice_at_once_is_one_row_updated_by_the_loser(
    engine: Engine, database_url: str
):
    def race() -> None:
        other = make_engine(database_url)
        try:
            with make_session_factory(other)() as session:
                upsert_article(session=session, article_id="a2", title="First", body="one")
                session.commit()
        finally:
            other.dispose()

    factory = make_session_factory(engine)
    with factory() as session:
        just_before_insert_into(engine, "articles", race)
        article, created = upsert_article(
            session=session, article_id="a2", title="Second", body="two"
        )
        session.commit()
    assert (article.title, created) == ("Second", False)
    with engine.connect() as conn:
        titles = conn.scalars(select(Article.title).where(Article.id == "a2")).all()
        actions = conn.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_id == "a2").order_by(AuditEntry.id)
        ).all()
    assert titles == ["Second"]
    assert actions == ["article.created", "article.updated"]
