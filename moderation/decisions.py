"""Decisions: where a comment is decided. Each decision is a new row; the comment's status
follows the latest one. Rules decide first; a moderator's decision is added on top."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from moderation import audit, reports, webhooks
from moderation.db.models import (
    Author,
    Comment,
    CommentStatus,
    DecidedBy,
    Decision,
    utcnow,
)
from moderation.policy import (
    NO_REPORTS,
    Action,
    ArticleFacts,
    EvaluationContext,
    HistoryQuery,
    ReportCounts,
    RuleSet,
)
from moderation.policy.context import AuthorStatus

STATUS_FOR_ACTION = {
    Action.APPROVE: CommentStatus.APPROVED,
    Action.REJECT: CommentStatus.REJECTED,
    Action.ESCALATE: CommentStatus.ESCALATED,
}
"""The status a comment moves to when a decision with that action is recorded."""

HISTORY_STATUS = {
    "approved": CommentStatus.APPROVED.value,
    "rejected": CommentStatus.REJECTED.value,
    "escalated": CommentStatus.ESCALATED.value,
}


def record_decision(
    *,
    session: Session,
    comment: Comment,
    action: Action,
    decided_by: DecidedBy,
    reasons: Iterable[Mapping[str, str]],
    rules_version: str | None,
    actor: str | None = None,
    rule: str | None = None,
    priority: int = 0,
    labels: Iterable[str] = (),
    reason_code: str | None = None,
    note: str | None = None,
    only_if_status: str | None = None,
    webhook_url: str | None = None,
    webhook_hold_seconds: float = 0.0,
) -> Decision | None:
    """Append a decision and move the comment to the matching status.

    With ``only_if_status`` the status change is conditional (compare-and-set), so two
    workers racing on one comment record one decision; the loser gets ``None``.
    With ``webhook_url`` the publisher's delivery is added to the same transaction, held
    ``webhook_hold_seconds`` (a moderator's undo window) before it is sent.
    """
    action = Action(action)  # callers outside the package may pass the value
    new_status = STATUS_FOR_ACTION[action].value
    now = utcnow()
    from_status = comment.status
    if only_if_status is not None:
        result = session.execute(
            update(Comment)
            .where(Comment.id == comment.id, Comment.status == only_if_status)
            .values(status=new_status, decided_at=now, last_error=None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        from_status = only_if_status
        comment.status = new_status
        comment.decided_at = now
    else:
        comment.status = new_status
        comment.decided_at = now
    decision = Decision(
        comment_id=comment.id,
        action=action.value,
        decided_by=decided_by.value,
        actor=actor,
        rule=rule,
        reasons=[{"rule": r["rule"], "message": r["message"]} for r in reasons],
        labels=list(labels),
        priority=priority,
        rules_version=rules_version,
        reason_code=reason_code,
        note=note,
        decided_at=now,
    )
    session.add(decision)
    audit.record(
        session,
        actor=actor or decided_by.value,
        action=f"comment.{action.value}",
        subject_type="comment",
        subject_id=comment.id,
        from_state=from_status,
        to_state=new_status,
        detail={"decided_by": decided_by.value, "rule": rule, "rules_version": rules_version},
        since=comment.received_at,
        at=now,
    )
    if webhook_url:
        webhooks.record_event(
            session, comment, decision, url=webhook_url, hold_seconds=webhook_hold_seconds
        )
    return decision


def author_history(
    session: Session,
    *,
    author_id: str,
    before: datetime,
    exclude_comment_id: str,
    queries: Iterable[HistoryQuery],
) -> dict[HistoryQuery, int]:
    """Counts of the author's earlier comments that the rules ask for."""
    counts: dict[HistoryQuery, int] = {}
    for q in queries:
        stmt = select(func.count(Comment.id)).where(
            Comment.author_id == author_id,
            Comment.id != exclude_comment_id,
            Comment.created_at <= before,
        )
        if q.kind in HISTORY_STATUS:
            stmt = stmt.where(Comment.status == HISTORY_STATUS[q.kind])
        if q.days is not None:
            stmt = stmt.where(Comment.created_at >= before - timedelta(days=q.days))
        counts[q] = int(session.scalar(stmt) or 0)
    return counts


def author_histories(
    session: Session, comments: Sequence[Comment], queries: Iterable[HistoryQuery]
) -> dict[str, dict[HistoryQuery, int]]:
    """``author_history`` for many comments at once (comment id → counts), from one query.

    The query reads the authors' comments that any of the counts could include (by author,
    time window and status); each comment's counts are then taken from those rows with the
    same conditions ``author_history`` puts in SQL, so the numbers are the same.
    """
    queries = list(queries)
    if not comments or not queries:
        return {c.id: {q: 0 for q in queries} for c in comments}
    stmt = select(Comment.author_id, Comment.id, Comment.status, Comment.created_at).where(
        Comment.author_id.in_({c.author_id for c in comments}),
        Comment.created_at <= max(c.created_at for c in comments),
    )
    if all(q.days is not None for q in queries):
        widest = max(q.days for q in queries if q.days is not None)
        stmt = stmt.where(
            Comment.created_at >= min(c.created_at for c in comments) - timedelta(days=widest)
        )
    if all(q.kind in HISTORY_STATUS for q in queries):
        stmt = stmt.where(Comment.status.in_({HISTORY_STATUS[q.kind] for q in queries}))
    by_author: dict[str, list[tuple[str, str, datetime]]] = defaultdict(list)
    for author_id, ident, status, created_at in session.execute(stmt).tuples():
        by_author[author_id].append((ident, status, created_at))
    out: dict[str, dict[HistoryQuery, int]] = {}
    for c in comments:
        rows = [r for r in by_author.get(c.author_id, ()) if r[0] != c.id and r[2] <= c.created_at]
        counts: dict[HistoryQuery, int] = {}
        for q in queries:
            kind_status = HISTORY_STATUS.get(q.kind)
            since = c.created_at - timedelta(days=q.days) if q.days is not None else None
            counts[q] = sum(
                1
                for _, st, at in rows
                if (kind_status is None or st == kind_status) and (since is None or at >= since)
            )
        out[c.id] = counts
    return out


def status_in_effect(author: Author | None, at: datetime) -> str:
    """The author status the rules see at ``at`` (``moderation.authors`` sets it):
    ``normal`` without an ``authors`` row, and once a suspension has run out."""
    if author is None:
        return AuthorStatus.NORMAL.value
    if author.status == AuthorStatus.SUSPENDED.value and (
        author.suspended_until is None or author.suspended_until <= at
    ):
        return AuthorStatus.NORMAL.value
    return author.status


def author_statuses(
    session: Session, author_ids: Iterable[str], *, at: datetime | None = None
) -> dict[str, str]:
    """``status_in_effect`` now (or at ``at``) for many authors (id → status), one query."""
    ids = set(author_ids)
    at = at or utcnow()
    found = (
        {a.id: a for a in session.scalars(select(Author).where(Author.id.in_(ids)))} if ids else {}
    )
    return {i: status_in_effect(found.get(i), at) for i in ids}


def rules_context(
    session: Session,
    comment: Comment,
    ruleset: RuleSet,
    *,
    scores: Mapping[str, float] | None = None,
    evidence: Mapping[str, Any] | None = None,
    history: Mapping[HistoryQuery, int] | None = None,
    report_counts: ReportCounts | None = None,
    author_status: str | None = None,
) -> EvaluationContext:
    """What the rules see of a comment: its scores (fresh from the scorers, or as stored),
    the text, the article, the author's history counts the rules ask for (``history``
    when the caller counted them for many comments with ``author_histories``) and, when the
    rules read them, the readers' reports since the latest moderator decision
    (``report_counts`` when the caller counted them with ``reports.unreviewed_counts``) and
    the author's status in effect now (``author_status`` when the caller looked it up for
    many comments with ``author_statuses``)."""
    article = comment.article
    if report_counts is None:
        report_counts = (
            reports.unreviewed_counts(session, [comment.id])[comment.id]
            if ruleset.needs_reports
            else NO_REPORTS
        )
    return EvaluationContext(
        scores=dict(scores) if scores is not None else {s.name: s.value for s in comment.scores},
        text=comment.text,
        author_id=comment.author_id,
        article=ArticleFacts(
            id=article.id,
            section=article.section,
            tags=tuple(article.tags or ()),
            published_at=article.published_at,
        ),
        is_reply=comment.parent_id is not None,
        created_at=comment.created_at,
        history=dict(history)
        if history is not None
        else author_history(
            session,
            author_id=comment.author_id,
            before=comment.created_at,
            exclude_comment_id=comment.id,
            queries=ruleset.history_queries,
        ),
        evidence=dict(evidence)
        if evidence is not None
        else {s.name: s.evidence for s in comment.scores if s.evidence},
        reports=report_counts,
        author_status=author_status
        if author_status is not None
        else author_statuses(session, [comment.author_id])[comment.author_id],
    )


def stored_contexts(
    session: Session, comments: Sequence[Comment], ruleset: RuleSet
) -> dict[str, EvaluationContext]:
    """``rules_context`` of many stored comments (id → context, from their stored scores),
    with what the rules read beyond each comment looked up for all of them at once: the
    authors' history counts, the readers' reports (when the rules read them) and the
    authors' status, one query each instead of one each per comment."""
    histories = author_histories(session, comments, ruleset.history_queries)
    reported = (
        reports.unreviewed_counts(session, [c.id for c in comments])
        if ruleset.needs_reports
        else {}
    )
    statuses = author_statuses(session, {c.author_id for c in comments})
    return {
        c.id: rules_context(
            session,
            c,
            ruleset,
            history=histories[c.id],
            report_counts=reported.get(c.id, NO_REPORTS),
            author_status=statuses[c.author_id],
        )
        for c in comments
    }
