"""The review queue: escalated comments, claims (leases) and moderators' decisions."""

from __future__ import annotations

from typing import Annotated, Any

import redis
from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from moderation import reviews
from moderation.api.deps import ModeratorDep, RedisDep, SessionDep, SettingsDep
from moderation.api.errors import ApiError
from moderation.api.routes.decisions import check_reason_code, decision_public
from moderation.api.schemas import (
    BulkDecisionCreate,
    BulkDecisionPublic,
    BulkDecisionResultPublic,
    ClaimPublic,
    ErrorBody,
    Identifier,
    ModeratorDecisionCreate,
    ModeratorDecisionPublic,
    ReviewCounters,
    ReviewPage,
    ReviewPublic,
    UndoPublic,
)
from moderation.db.models import ReviewStatus
from moderation.exceptions import InvalidCursorError
from moderation.settings import Settings

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
    q: Annotated[
        str | None,
        Query(
            max_length=reviews.SEARCH_MAX_CHARS,
            description="A comment, author or article id (exactly), or words in the text",
        ),
    ] = None,
) -> ReviewPage:
    try:
        page = reviews.list_reviews(
            session,
            status=status,
            sort=sort,
            article_id=article_id,
            cursor=cursor,
            limit=limit,
            search=q,
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


def bulk_decide(
    *,
    bulk_in: BulkDecisionCreate,
    session: Session,
    settings: Settings,
    conn: redis.Redis | None,
    moderator: str,
) -> BulkDecisionPublic:
    """What the API's and the page's bulk decisions both do."""
    check_reason_code(
        ModeratorDecisionCreate(action=bulk_in.action, reason_code=bulk_in.reason_code)
    )
    if bulk_in.comment_ids is not None:
        ids = list(bulk_in.comment_ids)
    else:
        assert bulk_in.author_id is not None  # the schema asks for one of the two
        ids = reviews.open_reviews_of_author(session, bulk_in.author_id)
    bulk_id, results = reviews.decide_many(
        session=session,
        conn=conn,
        settings=settings,
        comment_ids=ids,
        moderator=moderator,
        action=bulk_in.action,
        reason_code=bulk_in.reason_code,
        reason_text=bulk_in.reason_text,
        note=bulk_in.note,
    )
    return BulkDecisionPublic(
        bulk_id=bulk_id,
        decided=sum(r.outcome is reviews.BulkOutcome.DECIDED for r in results),
        results=[
            BulkDecisionResultPublic(
                comment_id=r.comment_id,
                outcome=r.outcome.value,
                decision=decision_public(r.decision) if r.decision is not None else None,
                message=r.message,
            )
            for r in results
        ],
        undo_seconds=settings.undo_seconds,
    )


@router.post(
    "/bulk-decision",
    response_model=BulkDecisionPublic,
    summary="Approve or reject several escalated comments (or an author's open reviews)",
)
def create_bulk_decision(
    bulk_in: BulkDecisionCreate,
    session: SessionDep,
    settings: SettingsDep,
    redis_conn: RedisDep,
    principal: ModeratorDep,
) -> BulkDecisionPublic:
    """Each comment is decided on its own (one audit row and one webhook each); the results
    say, per comment, ``decided``, ``conflict`` (claimed by another or decided already) or
    ``not_found``."""
    return bulk_decide(
        bulk_in=bulk_in,
        session=session,
        settings=settings,
        conn=redis_conn,
        moderator=principal.name,
    )


@router.post(
    "/{comment_id}/undo",
    response_model=UndoPublic,
    responses={**CONFLICT, 404: {"model": ErrorBody}},
    summary="Undo your latest decision on a comment within the undo window",
)
def undo_review_decision(
    comment_id: CommentId, session: SessionDep, settings: SettingsDep, principal: ModeratorDep
) -> UndoPublic:
    """Within ``MODERATION_UNDO_SECONDS`` of the decision, and only by the moderator who made
    it: the decision goes, its webhook is never sent, and the review is open again. After the
    window (the webhook is sent), or when someone decided since: 409."""
    undone = reviews.undo_latest(
        session=session,
        comment_id=comment_id,
        moderator=principal.name,
        window_seconds=settings.undo_seconds,
    )
    return UndoPublic(
        comment_id=undone.comment_id, undone_decision_id=undone.decision_id, status=undone.status
    )
