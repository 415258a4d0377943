"""The review queue: escalated comments, claims (leases) and moderators' decisions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from moderation import reviews
from moderation.api.deps import ModeratorDep, RedisDep, SessionDep, SettingsDep
from moderation.api.errors import ApiError
from moderation.api.routes.decisions import check_reason_code, decision_public
from moderation.api.schemas import (
    ClaimPublic,
    ErrorBody,
    Identifier,
    ModeratorDecisionCreate,
    ModeratorDecisionPublic,
    ReviewCounters,
    ReviewPage,
    ReviewPublic,
)
from moderation.db.models import ReviewStatus
from moderation.exceptions import InvalidCursorError

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])

CommentId = Annotated[Identifier, Path(description="The publisher's comment id")]
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "Claimed by another or decided already"}
}


@router.get("", response_model=ReviewPage, summary="Escalated comments waiting for a person")
def read_reviews(
    session: SessionDep,
    _: ModeratorDep,
    status: ReviewStatus = ReviewStatus.OPEN,
    sort: reviews.Sort = reviews.Sort.PRIORITY,
    article_id: Identifier | None = None,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReviewPage:
    try:
        page = reviews.list_reviews(
            session, status=status, sort=sort, article_id=article_id, cursor=cursor, limit=limit
        )
    except InvalidCursorError as exc:
        field = [{"field": "cursor", "message": str(exc), "type": "invalid_cursor"}]
        raise ApiError(422, "validation_error", f"cursor: {exc}", field) from None
    return ReviewPage(
        items=[ReviewPublic.model_validate(item, from_attributes=True) for item in page.items],
        next_cursor=page.next_cursor,
        counters=ReviewCounters.model_validate(reviews.counters(session), from_attributes=True),
    )


@router.post(
    "/{comment_id}/claim",
    response_model=ClaimPublic,
    responses={**CONFLICT, 404: {"model": ErrorBody}},
    summary="Take an escalated comment for a few minutes (again to renew)",
)
def claim_review(
    comment_id: CommentId, session: SessionDep, settings: SettingsDep, principal: ModeratorDep
) -> ClaimPublic:
    row = reviews.claim(
        session=session,
        comment_id=comment_id,
        moderator=principal.name,
        lease_seconds=settings.review_lease_seconds,
    )
    return ClaimPublic(
        comment_id=row.comment_id,
        moderator=row.moderator,
        claimed_at=row.claimed_at,
        expires_at=row.expires_at,
    )


@router.post(
    "/{comment_id}/release",
    status_code=204,
    responses={**CONFLICT, 404: {"model": ErrorBody}},
    summary="Give a claimed comment back to the queue",
)
def release_review(comment_id: CommentId, session: SessionDep, principal: ModeratorDep) -> Response:
    reviews.release(session=session, comment_id=comment_id, moderator=principal.name)
    return Response(status_code=204)


@router.post(
    "/{comment_id}/decision",
    status_code=201,
    response_model=ModeratorDecisionPublic,
    responses={**CONFLICT, 404: {"model": ErrorBody}},
    summary="Approve or reject an escalated comment; ends the review, notifies the publisher",
)
def create_review_decision(
    comment_id: CommentId,
    decision_in: ModeratorDecisionCreate,
    session: SessionDep,
    settings: SettingsDep,
    redis_conn: RedisDep,
    principal: ModeratorDep,
) -> ModeratorDecisionPublic:
    check_reason_code(decision_in)
    decision = reviews.apply_moderator_decision(
        session=session,
        conn=redis_conn,
        settings=settings,
        comment_id=comment_id,
        moderator=principal.name,
        action=decision_in.action,
        reason_code=decision_in.reason_code,
        reason_text=decision_in.reason_text,
        note=decision_in.note,
    )
    return decision_public(decision)
