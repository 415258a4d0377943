"""The audit log, for moderators: one comment's or one author's rows, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from moderation import audit
from moderation.api.deps import ModeratorDep, SessionDep
from moderation.api.errors import ApiError
from moderation.api.schemas import (
    FIELD_COMBINATION,
    AuditEntryPublic,
    AuditPagePublic,
    ErrorBody,
    Identifier,
)
from moderation.exceptions import InvalidCursorError

router = APIRouter(prefix="/v1/audit", tags=["audit"])


def _invalid(field: str, message: str, kind: str = "value_error") -> ApiError:
    return ApiError(
        422, "validation_error", f"{field}: {message}",
        [{"field": field, "message": message, "type": kind}],
    )  # fmt: skip


def read_audit_page(
    session: Session,
    *,
    comment_id: str | None,
    author_id: str | None,
    cursor: str | None,
    limit: int,
) -> AuditPagePublic:
    """Shared with the /moderate page's History: exactly one of the two ids."""
    if (comment_id is None) == (author_id is None):
        raise _invalid(
            "comment_id", "give exactly one of comment_id and author_id", FIELD_COMBINATION
        )
    subject = ("comment", comment_id) if comment_id is not None else ("author", author_id)
    try:
        page = audit.list_entries(
            session, subject_type=subject[0], subject_id=str(subject[1]), cursor=cursor,
            limit=limit,
        )  # fmt: skip
    except InvalidCursorError as exc:
        raise _invalid("cursor", str(exc), "invalid_cursor") from None
    body = AuditPagePublic(
        items=[AuditEntryPublic.model_validate(e, from_attributes=True) for e in page.entries],
        next_cursor=page.next_cursor,
    )
    session.rollback()  # only read
    return body


@router.get(
    "",
    response_model=AuditPagePublic,
    responses={422: {"model": ErrorBody, "description": "Neither or both ids, or a bad cursor"}},
    summary="A comment's or an author's audit log: who did what, when, from which state",
)
def read_audit(
    session: SessionDep,
    _: ModeratorDep,
    comment_id: Identifier | None = None,
    author_id: Identifier | None = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPagePublic:
    return read_audit_page(
        session, comment_id=comment_id, author_id=author_id, cursor=cursor, limit=limit
    )
