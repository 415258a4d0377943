"""Comments: where a comment enters the service. Store first, then queue (see ``queue``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from moderation import audit, state_changes
from moderation.db.models import Article, AuditEntry, Comment, CommentStatus, utcnow
from moderation.db.scoping import current_site, in_site
from moderation.exceptions import ConflictError, NotFoundError, UnknownReferenceError
from moderation.hashing import content_hash


@dataclass(frozen=True)
class NewComment:
    id: str
    article_id: str
    text: str
    author_id: str
    author_name: str | None = None
    parent_id: str | None = None
    created_at: datetime | None = None

    @property
    def content_hash(self) -> str:
        return content_hash(self.article_id, self.text, self.author_id, self.parent_id)


def load_comments(session: Session, comment_ids: Sequence[str]) -> dict[str, Comment]:
    """Comments with their scores and decisions, in one query (plus one per relation)."""
    rows = session.scalars(
        select(Comment)
        .where(Comment.id.in_(list(comment_ids)))
        .options(selectinload(Comment.scores), selectinload(Comment.decisions))
    )
    return {c.id: c for c in rows}


def load_comment(session: Session, comment_id: str) -> Comment | None:
    return load_comments(session, [comment_id]).get(comment_id)


def get_comment(session: Session, comment_id: str) -> Comment:
    comment = load_comment(session, comment_id)
    if comment is None:
        raise NotFoundError("comment", comment_id)
    return comment


Created = tuple[Comment, bool]
"""``(comment, created)``: the stored comment, and whether this call stored it."""


def create_comments(
    *, session: Session, news: Sequence[NewComment]
) -> list[Created | UnknownReferenceError | ConflictError]:
    """Store pending comments, each accepted or refused on its own, in a fixed number of
    statements: one read of the ids and parents already stored, one of the articles, one
    insert of the new rows. The result at each position is ``(comment, created)`` as from
    ``create_comment``, or the error that refused that item; an item may name a comment
    stored earlier in the same call as its parent or as a retry. A new row is inserted as
    columns (one executemany), not through the session's unit of work, which spent more
    time on each new object's empty collections than the insert took; the ``Comment``
    returned for it is not in the session (its fields are what was stored, its scores and
    decisions empty).

    If another request stores one of the ids between the read and the insert, the work is
    rolled back and redone item by item (``create_comment`` in a savepoint each).
    """
    if not news:
        return []
    wanted = {n.id for n in news} | {n.parent_id for n in news if n.parent_id is not None}
    known = {c.id: c for c in session.scalars(select(Comment).where(Comment.id.in_(wanted)))}
    articles = set(
        session.scalars(select(Article.id).where(Article.id.in_({n.article_id for n in news})))
    )
    results: list[Created | UnknownReferenceError | ConflictError] = []
    now = utcnow()
    site = current_site(session)
    rows: list[Comment] = []
    for new in news:
        existing = known.get(new.id)
        try:
            if existing is not None:
                results.append((_check_same(existing, new), False))
                continue
            _check_references(new, articles, known.get(new.parent_id) if new.parent_id else None)
        except (UnknownReferenceError, ConflictError) as exc:
            results.append(exc)
            continue
        comment = _row(new, now, site)
        known[new.id] = comment
        rows.append(comment)
        results.append((comment, True))
    if not rows:
        return results
    try:
        session.execute(insert(Comment), [_columns(row) for row in rows])
    except IntegrityError:
        session.rollback()
        return [_create_one_in_savepoint(session, new) for new in news]
    # One executemany: ORM rows with generated ids would be inserted one by one on SQLite.
    created = [row.id for row in rows]
    pending = CommentStatus.PENDING.value
    session.execute(
        insert(AuditEntry),
        [
            {"site_id": site, "at": now, "actor": "publisher", "action": "comment.received",
             "subject_type": "comment", "subject_id": comment_id, "to_state": pending}
            for comment_id in created
        ],
    )  # fmt: skip
    for comment_id in created:  # as audit.record stages each row it writes
        state_changes.stage(
            session,
            event="comment.received",
            comment_id=comment_id,
            actor="publisher",
            from_state=None,
            to_state=pending,
            detail=None,
            site_id=site,
        )
    return results


def _create_one_in_savepoint(
    session: Session, new: NewComment
) -> Created | UnknownReferenceError | ConflictError:
    try:
        with session.begin_nested():
            return create_comment(session=session, new=new)
    except (UnknownReferenceError, ConflictError) as exc:
        return exc


def _check_references(new: NewComment, articles: set[str], parent: Comment | None) -> None:
    if new.article_id not in articles:
        raise UnknownReferenceError("article", new.article_id, "article_id")
    if new.parent_id is not None:
        if parent is None:
            raise UnknownReferenceError("parent comment", new.parent_id, "parent_id")
        if parent.article_id != new.article_id:
            raise ConflictError(
                f"parent_id: comment {new.parent_id!r} belongs to article "
                f"{parent.article_id!r}, not {new.article_id!r}"
            )


_INSERTED = (
    "site_id", "id", "article_id", "parent_id", "author_id", "author_name", "text",
    "content_hash", "status", "created_at", "received_at", "scoring_attempts",
)  # fmt: skip
"""The columns a new comment is inserted with (the others start empty)."""


def _columns(row: Comment) -> dict[str, object]:
    return {name: getattr(row, name) for name in _INSERTED}


def _new_row(session: Session, new: NewComment, now: datetime) -> Comment:
    comment = _row(new, now)
    session.add(comment)
    return comment


def _row(new: NewComment, now: datetime, site: str | None = None) -> Comment:
    """A new pending comment, not yet in any session (``site``: None lets the session fill
    it in when the row is added)."""
    return Comment(
        site_id=site,
        id=new.id,
        article_id=new.article_id,
        parent_id=new.parent_id,
        author_id=new.author_id,
        author_name=new.author_name,
        text=new.text,
        content_hash=new.content_hash,
        status=CommentStatus.PENDING.value,
        created_at=new.created_at or now,
        received_at=now,
        scoring_attempts=0,
        scores=[],
        decisions=[],
    )


def create_comment(*, session: Session, new: NewComment) -> tuple[Comment, bool]:
    """Store a pending comment; returns ``(comment, created)``.

    The same id with the same content is a retry and returns the stored comment;
    the same id with other content is a ``ConflictError``. Nothing is written on error.
    """
    existing = session.get(Comment, in_site(session, new.id))
    if existing is not None:
        return _check_same(existing, new), False
    if session.get(Article, in_site(session, new.article_id)) is None:
        raise UnknownReferenceError("article", new.article_id, "article_id")
    parent = (
        session.get(Comment, in_site(session, new.parent_id)) if new.parent_id is not None else None
    )
    _check_references(new, {new.article_id}, parent)
    try:
        # A savepoint of its own, so that losing the race below undoes this comment only,
        # not the rest of the caller's transaction (the other items of a batch).
        with session.begin_nested():
            comment = _new_row(session, new, utcnow())
            session.flush()  # a lost race fails here, before its state change is staged
            audit.record(
                session,
                actor="publisher",
                action="comment.received",
                subject_type="comment",
                subject_id=new.id,
                to_state=CommentStatus.PENDING.value,
            )
    except IntegrityError:
        # Another request stored the same id between our read and our write.
        existing = load_comment(session, new.id)
        if existing is None:
            raise
        return _check_same(existing, new), False
    return comment, True


def _check_same(existing: Comment, new: NewComment) -> Comment:
    if existing.content_hash == new.content_hash:
        return existing
    differing = [
        name
        for name, old, value in (
            ("article_id", existing.article_id, new.article_id),
            ("text", existing.text, new.text),
            ("author.id", existing.author_id, new.author_id),
            ("parent_id", existing.parent_id, new.parent_id),
        )
        if old != value
    ]
    raise ConflictError(
        f"comment {new.id!r} already exists with different {', '.join(differing)}; "
        "comment ids are immutable: send an edited comment under a new id",
        current=existing,
    )
