"""Test support for the review queue: counting SQL statements, seeding many reviews."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event

from moderation.articles import upsert_article
from moderation.comments import NewComment, create_comment
from moderation.db import DecidedBy, Score
from moderation.db.models import ReviewClaim, utcnow
from moderation.decisions import record_decision
from moderation.policy import Action


class Statements:
    """The SQL statements an engine ran, counted with ``before_cursor_execute``."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    @property
    def count(self) -> int:
        return len(self.sql)


@contextmanager
def counting(engine: Engine) -> Iterator[Statements]:
    statements = Statements()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's, sent by the engine; not PostgreSQL's
            statements.sql.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


BASE = datetime(2026, 11, 1, tzinfo=UTC)


def seed_reviews(session_factory: Any, n: int, *, start: int = 0) -> None:
    """``n`` reviews in each review status, varied the ways a page can vary.

    Open (``o<i>``): some with an expired claim; claimed (``c<i>``): live claims of several
    moderators; done (``d<i>``): approved or rejected by a moderator. Seven authors, each
    with an earlier approved comment; five articles; every third comment a reply.
    """
    now = utcnow()
    with session_factory() as s:
        for a in range(5):
            upsert_article(session=s, article_id=f"a{a}", title=f"Article {a}", body="Body.")
        s.flush()
        for i in range(start, start + n):
            for kind in ("o", "c", "d"):
                author = f"u{i % 7}"
                _comment(s, f"old-{kind}{i}", author, i, parent=None, action=Action.APPROVE)
                parent = f"old-{kind}{i}" if i % 3 == 0 else None
                comment = _comment(s, f"{kind}{i}", author, i, parent=parent, action=None)
                record_decision(
                    session=s,
                    comment=comment,
                    action=Action.ESCALATE,
                    decided_by=DecidedBy.RULES,
                    reasons=[{"rule": "borderline", "message": "toxicity"}],
                    rules_version="f" * 64,
                    rule="borderline",
                    priority=i % 4,
                    labels=["needs-eyes"],
                )
                if kind == "o" and i % 2:
                    s.add(_claim(f"{kind}{i}", f"m{i % 3}", expires=now - timedelta(minutes=1)))
                elif kind == "c":
                    s.add(_claim(f"{kind}{i}", f"m{i % 3}", expires=now + timedelta(minutes=10)))
                elif kind == "d":
                    record_decision(
                        session=s,
                        comment=comment,
                        action=Action.APPROVE if i % 2 else Action.REJECT,
                        decided_by=DecidedBy.MODERATOR,
                        reasons=[{"rule": "moderator", "message": "by a moderator"}],
                        rules_version="f" * 64,
                        actor=f"m{i % 3}",
                        rule="moderator",
                        note=f"note {i}",
                    )
        s.commit()


def _comment(s: Any, cid: str, author: str, i: int, *, parent: str | None, action: Any) -> Any:
    comment, _ = create_comment(
        session=s,
        new=NewComment(
            id=cid,
            article_id=f"a{i % 5}",
            text=f"Comment {cid}, a stupid idea.",
            author_id=author,
            parent_id=parent,
            created_at=BASE + timedelta(minutes=i),
        ),
    )
    s.add(Score(comment_id=cid, name="toxicity", value=(i % 10) / 10, evidence={"spans": []}))
    s.add(Score(comment_id=cid, name="spam", value=0.1, evidence=None))
    s.flush()
    if action is not None:
        record_decision(
            session=s,
            comment=comment,
            action=action,
            decided_by=DecidedBy.RULES,
            reasons=[{"rule": "fine", "message": "fine"}],
            rules_version="f" * 64,
        )
    return comment


def _claim(cid: str, moderator: str, *, expires: datetime) -> ReviewClaim:
    return ReviewClaim(
        comment_id=cid, moderator=moderator, claimed_at=expires - timedelta(minutes=15),
        expires_at=expires,
    )  # fmt: skip
