"""Readers' reports of comments: recorded once per reader and comment, and counted.

A report is a row of ``comment_reports`` (unique per comment and reporter): the same reader
reporting the same comment again is the same report, counted once. Counts come in two
kinds (``ReportTally``): every report received, which the API shows, and the reports made
since the comment's latest moderator decision, which the rules count (``reports``
condition), so a moderator's call is reopened only by reports made after it.

What a report does to a decided comment (reopen it, raise its review priority, hide it) is
``moderation.reconsideration``'s, run by a job after the report is committed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderation import audit
from moderation.db.models import Comment, CommentReport, DecidedBy, Decision, utcnow
from moderation.db.scoping import in_site
from moderation.exceptions import NotFoundError
from moderation.policy import NO_REPORTS, ReportCounts, ReportReason

__all__ = [
    "NewReport",
    "ReportTally",
    "list_reports",
    "mark_reconsidered",
    "record_report",
    "report_tallies",
    "unreviewed_counts",
]


@dataclass(frozen=True)
class NewReport:
    reporter_id: str
    reason: ReportReason
    note: str | None = None


@dataclass(frozen=True)
class ReportTally:
    """One comment's reports, counted two ways."""

    received: ReportCounts
    """Every report received."""
    unreviewed: ReportCounts
    """Those made after the comment's latest moderator decision (all, when it has none):
    what the rules count."""


NO_TALLY = ReportTally(NO_REPORTS, NO_REPORTS)


def record_report(
    *, session: Session, comment_id: str, new: NewReport, actor: str = "publisher"
) -> tuple[Comment, CommentReport, bool]:
    """Store a reader's report of a comment: ``(comment, report, created)``. The reader's
    earlier report of the same comment is returned as it was stored (``created`` false), and
    nothing is written. ``NotFoundError`` for an unknown comment. The caller commits."""
    comment = session.get(Comment, in_site(session, comment_id))
    if comment is None:
        raise NotFoundError("comment", comment_id)
    existing = _report_of(session, comment_id, new.reporter_id)
    if existing is not None:
        return comment, existing, False
    try:
        # A savepoint, so that losing the race below undoes this report only.
        with session.begin_nested():
            report = CommentReport(
                comment_id=comment_id,
                reporter_id=new.reporter_id,
                reason=ReportReason(new.reason).value,
                note=new.note,
                created_at=utcnow(),
            )
            session.add(report)
            session.flush()
            audit.record(
                session,
                actor=actor,
                action="comment.reported",
                subject_type="comment",
                subject_id=comment_id,
                from_state=comment.status,
                to_state=comment.status,
                detail={"report_id": report.id, "reporter_id": new.reporter_id,
                        "reason": report.reason},
            )  # fmt: skip
    except IntegrityError:
        # The same reader's report was stored by another request between our read and write.
        existing = _report_of(session, comment_id, new.reporter_id)
        if existing is None:
            raise
        return comment, existing, False
    return comment, report, True


def _report_of(session: Session, comment_id: str, reporter_id: str) -> CommentReport | None:
    return session.scalar(
        select(CommentReport).where(
            CommentReport.comment_id == comment_id, CommentReport.reporter_id == reporter_id
        )
    )


def report_tallies(session: Session, comment_ids: Sequence[str]) -> dict[str, ReportTally]:
    """Each comment's reports, received and unreviewed, by comment id (a comment without
    reports is absent); one query however many comments."""
    ids = list(dict.fromkeys(comment_ids))
    if not ids:
        return {}
    last_review = (
        select(Decision.comment_id, func.max(Decision.decided_at).label("at"))
        .where(Decision.comment_id.in_(ids), Decision.decided_by == DecidedBy.MODERATOR.value)
        .group_by(Decision.comment_id)
        .subquery()
    )
    after_review = case(
        (or_(last_review.c.at.is_(None), CommentReport.created_at > last_review.c.at), 1),
        else_=0,
    )
    rows = session.execute(
        select(
            CommentReport.comment_id,
            CommentReport.reason,
            func.count(CommentReport.id),
            func.sum(after_review),
        )
        .outerjoin(last_review, last_review.c.comment_id == CommentReport.comment_id)
        .where(CommentReport.comment_id.in_(ids))
        .group_by(CommentReport.comment_id, CommentReport.reason)
    ).tuples()
    received: dict[str, dict[str, int]] = defaultdict(dict)
    unreviewed: dict[str, dict[str, int]] = defaultdict(dict)
    for comment_id, reason, n, fresh in rows:
        received[comment_id][reason] = int(n)
        if fresh:
            unreviewed[comment_id][reason] = int(fresh)
    return {
        cid: ReportTally(ReportCounts(received[cid]), ReportCounts(unreviewed.get(cid, {})))
        for cid in received
    }


def report_tally(session: Session, comment_id: str) -> ReportTally:
    return report_tallies(session, [comment_id]).get(comment_id, NO_TALLY)


def unreviewed_counts(session: Session, comment_ids: Sequence[str]) -> dict[str, ReportCounts]:
    """What the rules count for each comment (every id is present; zero when none)."""
    tallies = report_tallies(session, comment_ids)
    return {cid: tallies.get(cid, NO_TALLY).unreviewed for cid in comment_ids}


def list_reports(session: Session, comment_id: str, *, limit: int = 100) -> list[CommentReport]:
    """A comment's reports, oldest first; ``NotFoundError`` for an unknown comment."""
    if session.get(Comment, in_site(session, comment_id)) is None:
        raise NotFoundError("comment", comment_id)
    return list(
        session.scalars(
            select(CommentReport)
            .where(CommentReport.comment_id == comment_id)
            .order_by(CommentReport.created_at, CommentReport.id)
            .limit(limit)
        )
    )


def mark_reconsidered(session: Session, comment_id: str, *, up_to: datetime) -> None:
    """The comment's reports received up to ``up_to`` have been reconsidered: the sweeper
    leaves them alone. (A report that arrives meanwhile keeps its own job.)"""
    session.execute(
        update(CommentReport)
        .where(
            CommentReport.comment_id == comment_id,
            CommentReport.reconsidered_at.is_(None),
            CommentReport.created_at <= up_to,
        )
        .values(reconsidered_at=utcnow())
        .execution_options(synchronize_session=False)
    )
