"""Moderators' decisions on any comment (overturning an automatic approve or reject), and
the reason codes a rejection carries (``GET /v1/reasons``, for the review page's 1-9 keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from moderation import reasons, reviews
from moderation.api.deps import ModeratorDep, RedisDep, SessionDep, SettingsDep
from moderation.api.errors import ApiError
from moderation.api.schemas import (
    FIELD_COMBINATION,
    ErrorBody,
    Identifier,
    ModeratorDecisionCreate,
    ModeratorDecisionPublic,
)
from moderation.db.models import Decision

# No prefix: the decision lives under /v1/comments, the reasons at /v1/reasons.
router = APIRouter(tags=["decisions"])


class ReasonCodePublic(BaseModel):
    code: str
    key: int
    label: str
    text: str
    category: str
    decision_ground: str


def check_reason_code(decision_in: ModeratorDecisionCreate) -> None:
    """422 for a rejection whose ``reason_code`` is not in the list (it names the codes)."""
    if decision_in.action != reviews.ModeratorAction.REJECT or decision_in.reason_code is None:
        return
    try:
        reasons.check_code(decision_in.reason_code)
    except ValueError as exc:
        field = [{"field": "reason_code", "message": str(exc), "type": FIELD_COMBINATION}]
        raise ApiError(422, "validation_error", f"reason_code: {exc}", field) from None


def decision_public(decision: Decision) -> ModeratorDecisionPublic:
    """The decision as the moderator's endpoints answer it, with the commenter's text."""
    out = ModeratorDecisionPublic.model_validate(decision, from_attributes=True)
    return out.model_copy(
        update={
            "reason_code": reasons.decision_reason_code(decision.action, decision.reason_code),
            "reason_text": reasons.decision_reason_text(
                decision.action, decision.reason_code, decision.reasons
            ),
        }
    )


@router.get(
    "/v1/reasons",
    response_model=list[ReasonCodePublic],
    summary="The reason codes a rejection may carry, in key order (1-9)",
)
def read_reasons(_: ModeratorDep) -> list[ReasonCodePublic]:
    return [ReasonCodePublic(**r.public()) for r in reasons.REASONS]


CommentId = Annotated[Identifier, Path(description="The publisher's comment id")]


@router.post(
    "/v1/comments/{comment_id}/decision",
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
        overturning=True,
    )
    return decision_public(decision)
