"""Moderators' decisions on any comment: overturning an automatic approve or reject."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from moderation import reviews
from moderation.api.deps import ModeratorDep, RedisDep, SessionDep, SettingsDep
from moderation.api.schemas import (
    ErrorBody,
    Identifier,
    ModeratorDecisionCreate,
    ModeratorDecisionPublic,
)

router = APIRouter(prefix="/v1/comments", tags=["decisions"])

CommentId = Annotated[Identifier, Path(description="The publisher's comment id")]


@router.post(
    "/{comment_id}/decision",
    status_code=201,
    response_model=ModeratorDecisionPublic,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
    summary="A moderator's decision on a decided comment (overturns the rules' decision)",
)
def create_decision(
    comment_id: CommentId,
    decision_in: ModeratorDecisionCreate,
    session: SessionDep,
    settings: SettingsDep,
    redis_conn: RedisDep,
    principal: ModeratorDep,
) -> ModeratorDecisionPublic:
    decision = reviews.apply_moderator_decision(
        session=session,
        conn=redis_conn,
        settings=settings,
        comment_id=comment_id,
        moderator=principal.name,
        action=decision_in.action,
        reason_code=decision_in.reason_code,
        note=decision_in.note,
        overturning=True,
    )
    return ModeratorDecisionPublic.model_validate(decision, from_attributes=True)
