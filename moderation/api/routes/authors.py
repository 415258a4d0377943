"""Authors, for moderators: the author page's data, the status moderators set (which the
rules read and the publisher is told of) and notes."""

from __future__ import annotations

from typing import Annotated

import redis
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from moderation import authors, erasure, reasons
from moderation.api.deps import AdminDep, ModeratorDep, RedisDep, SessionDep, SettingsDep
from moderation.api.errors import ApiError
from moderation.api.schemas import (
    FIELD_COMBINATION,
    AuthorDetailPublic,
    AuthorNoteCreate,
    AuthorNotePublic,
    AuthorStatusPut,
    AuthorStatusResult,
    ErrorBody,
    Identifier,
    author_detail_public,
    author_note_public,
)
from moderation.db.models import utcnow
from moderation.policy.context import AuthorStatus
from moderation.settings import Settings

router = APIRouter(prefix="/v1/authors", tags=["authors"])

AuthorId = Annotated[Identifier, Path(description="The publisher's author id")]

STOPS_POSTING = (AuthorStatus.SUSPENDED.value, AuthorStatus.BANNED.value)


@router.get(
    "/{author_id}",
    response_model=AuthorDetailPublic,
    responses={
        404: {"model": ErrorBody, "description": "No comment, status or note has this author"}
    },
    summary="An author: status, comment counts by status, latest comments with decisions, notes",
)
def read_author(
    author_id: AuthorId,
    session: SessionDep,
    _: ModeratorDep,
    comments: Annotated[int, Query(ge=1, le=100, description="At most this many comments")] = 20,
) -> AuthorDetailPublic:
    view = authors.read_author(session, author_id, comments_limit=comments)
    session.rollback()  # only read
    return author_detail_public(view)


def _refuse(field: str, message: str) -> ApiError:
    return ApiError(
        422,
        "validation_error",
        f"{field}: {message}",
        [{"field": field, "message": message, "type": FIELD_COMBINATION}],
    )


def check_status_put(status_in: AuthorStatusPut) -> None:
    """422 naming the field: ``until`` required for, and only for, ``suspended``, and in the
    future; ``reject_pending`` only when the author may no longer post; a known reason code."""
    if status_in.status == AuthorStatus.SUSPENDED.value:
        if status_in.until is None:
            raise _refuse("until", "required when the status is suspended")
        until = status_in.until
        if until.tzinfo is None:
            raise _refuse("until", "must give a time zone, e.g. 2024-06-13T09:30:00Z")
        if until <= utcnow():
            raise _refuse("until", "must be in the future")
    elif status_in.until is not None:
        raise _refuse("until", f"only a suspended author has one (status is {status_in.status})")
    if status_in.reject_pending and status_in.status not in STOPS_POSTING:
        raise _refuse(
            "reject_pending", f"only with suspended or banned (status is {status_in.status})"
        )
    if status_in.reason_code is not None:
        try:
            reasons.check_code(status_in.reason_code)
        except ValueError as exc:
            raise _refuse("reason_code", str(exc)) from None


@router.put(
    "/{author_id}/status",
    response_model=AuthorStatusResult,
    responses={422: {"model": ErrorBody, "description": "A field is missing or not allowed"}},
    summary="Set an author's status (audit log, author.updated webhook); optionally reject "
    "their pending comments in the same step",
)
def put_author_status(
    author_id: AuthorId,
    status_in: AuthorStatusPut,
    session: SessionDep,
    settings: SettingsDep,
    redis_conn: RedisDep,
    principal: ModeratorDep,
) -> AuthorStatusResult:
    return set_author_status(
        author_id=author_id,
        status_in=status_in,
        session=session,
        settings=settings,
        conn=redis_conn,
        moderator=principal.name,
    )


def set_author_status(
    *,
    author_id: str,
    status_in: AuthorStatusPut,
    session: Session,
    settings: Settings,
    conn: redis.Redis | None,
    moderator: str,
) -> AuthorStatusResult:
    """Checked, applied and answered as the API does; shared with the /moderate page."""
    check_status_put(status_in)
    result = authors.apply_status(
        session=session,
        conn=conn,
        settings=settings,
        author_id=author_id,
        change=authors.StatusChange(
            status=AuthorStatus(status_in.status),
            until=status_in.until,
            reason=status_in.reason,
            reason_code=status_in.reason_code,
            reject_pending=status_in.reject_pending,
        ),
        moderator=moderator,
    )
    author = result.author
    status = authors.status_in_effect(author, utcnow())
    return AuthorStatusResult(
        author_id=author_id,
        status=status,  # type: ignore[arg-type]
        previous_status=result.previous_status,  # type: ignore[arg-type]
        suspended_until=author.suspended_until if status == AuthorStatus.SUSPENDED.value else None,
        changed=result.changed,
        rejected=result.rejected,
    )


@router.post(
    "/{author_id}/notes",
    status_code=201,
    response_model=AuthorNotePublic,
    summary="Add a moderator's note on an author (shown on the author page, never sent)",
)
def create_author_note(
    author_id: AuthorId,
    note_in: AuthorNoteCreate,
    session: SessionDep,
    principal: ModeratorDep,
) -> AuthorNotePublic:
    note = authors.add_note(
        session=session, author_id=author_id, moderator=principal.name, text=note_in.text
    )
    return author_note_public(note)


class ErasurePublic(BaseModel):
    """What an erasure did: the author's id and name are now ``pseudonym`` everywhere."""

    pseudonym: str
    comments: int
    """Comments whose text was emptied."""
    reports_made: int
    notes_deleted: int
    audit_rows: int
    deliveries_deleted: int


@router.delete(
    "/{author_id}",
    response_model=ErasurePublic,
    summary="Erase an author (a data-protection request): their comments' text, their id and "
    "name everywhere, moderators' notes and status; decisions stay",
)
def erase_author(author_id: AuthorId, session: SessionDep, principal: AdminDep) -> ErasurePublic:
    erased = erasure.forget_author(session, author_id, actor=principal.name)
    session.commit()
    return ErasurePublic(pseudonym=erased.pseudonym, **erased.counts())
