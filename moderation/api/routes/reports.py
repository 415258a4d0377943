"""Readers' reports of comments: the publisher sends them (one per reader and comment),
moderators read them. Store, commit, then queue the comment's reconsideration."""

from __future__ import annotations

import logging
from typing import Annotated, cast

import redis
from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from moderation.api.deps import ModeratorDep, PublisherDep, RedisDep, SessionDep, SettingsDep
from moderation.api.schemas import (
    CommentReportsPublic,
    CommentStatusName,
    ErrorBody,
    Identifier,
    ReportCreate,
    ReportOutcome,
    ReportResult,
    report_counts_public,
    report_public,
)
from moderation.db.models import Comment, CommentStatus
from moderation.db.scoping import in_site
from moderation.db.session import database_unavailable
from moderation.exceptions import QueueUnavailableError
from moderation.reconsideration import enqueue_reconsider
from moderation.reports import NewReport, list_reports, record_report, report_tally
from moderation.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/comments", tags=["reports"])

CommentId = Annotated[Identifier, Path(description="The publisher's comment id")]

COUNTED_ONLY = {CommentStatus.PENDING.value, CommentStatus.REJECTED.value}
"""Statuses whose reports change nothing now: a pending comment's scoring counts them."""


@router.post(
    "/{comment_id}/reports",
    status_code=201,
    response_model=ReportResult,
    responses={
        200: {
            "model": ReportResult,
            "description": "This reader had reported the comment already: the stored report, "
            "not counted again",
        },
        404: {"model": ErrorBody, "description": "No comment has this id"},
    },
    summary="Report a comment for a reader (any comment, approved ones included)",
)
def create_report(
    comment_id: CommentId,
    report_in: ReportCreate,
    session: SessionDep,
    settings: SettingsDep,
    redis_conn: RedisDep,
    principal: PublisherDep,
    response: Response,
) -> ReportResult:
    comment, report, created = record_report(
        session=session,
        comment_id=comment_id,
        new=NewReport(reporter_id=report_in.reporter_id, reason=report_in.reason,
                      note=report_in.note),
        actor=principal.name,
    )  # fmt: skip
    status = comment.status
    stored = report_public(report)
    session.commit()
    outcome: ReportOutcome
    if created:
        _enqueue(session, redis_conn, settings, comment_id)
        outcome = "counted" if status in COUNTED_ONLY else "reconsidering"
    else:
        response.status_code = 200
        outcome = "duplicate"
    session.expire_all()
    now = session.get(Comment, in_site(session, comment_id))
    tally = report_tally(session, comment_id)
    session.commit()
    return ReportResult(
        comment_id=comment_id,
        reports=report_counts_public(tally.received, tally.unreviewed),
        report=stored,
        outcome=outcome,
        comment_status=cast(CommentStatusName, now.status if now is not None else status),
        hidden_at=now.hidden_at if now is not None else None,
    )


def _enqueue(session: Session, redis_conn: redis.Redis, settings: Settings, cid: str) -> None:
    """Queue the committed report's reconsideration. Redis or the database being down is no
    error here: the sweeper queues what is not queued (or whose job id is not recorded)."""
    try:
        enqueue_reconsider(session=session, conn=redis_conn, settings=settings, comment_ids=[cid])
    except QueueUnavailableError as exc:
        log.warning("report of comment %s stored but not queued: %s", cid, exc)
    except SQLAlchemyError as exc:
        unavailable = database_unavailable(exc)
        if unavailable is None:
            raise
        session.rollback()
        log.warning("report of comment %s queued, job id not recorded: %s", cid, unavailable)


@router.get(
    "/{comment_id}/reports",
    response_model=CommentReportsPublic,
    responses={404: {"model": ErrorBody, "description": "No comment has this id"}},
    summary="A comment's reports, oldest first, and their counts",
)
def read_reports(
    comment_id: CommentId,
    session: SessionDep,
    _: ModeratorDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many reports")] = 100,
) -> CommentReportsPublic:
    items = list_reports(session, comment_id, limit=limit)
    tally = report_tally(session, comment_id)
    return CommentReportsPublic(
        comment_id=comment_id,
        reports=report_counts_public(tally.received, tally.unreviewed),
        items=[report_public(r) for r in items],
    )
