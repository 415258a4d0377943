"""What readers' reports do to a decided comment: the reconsideration job's work.

When a report is committed, the API queues ``workers.jobs.reconsider_comments([id])`` on the
live lane (``enqueue_reconsider``). The job re-reads the comment and evaluates its stored
scores again with the current rules and the reports made since its latest moderator
decision (nothing is re-scored):

- **pending**: nothing; its scoring job counts the reports.
- **approved**: back to the review queue (an escalation with the reports among its reasons)
  when the rules now escalate or reject it; never rejected without a person, since it was
  published. A comment a moderator approved goes back only on a rule about the reports
  (one that reads them matches and escalates or rejects), counting the reports made after
  that approval: the scores alone do not reopen a moderator's call.
- **escalated**: its open review's priority rises to what the rules give it with the reports
  (the escalation's priority, labels and reasons are raised in place; the audit log keeps
  the old priority).
- **rejected**: nothing.

A published comment (approved, or approved and sent back to review) whose reports reach
``MODERATION_REPORT_HIDE_THRESHOLD`` is also hidden pending review: ``comments.hidden_at`` is
set once (compare-and-set) and the publisher gets ``comment.hidden`` in the same
transaction; the moderator's decision then goes out as the usual ``comment.decided``. A
comment sent back without being hidden stays published: no webhook goes out until the
moderator decides.

Every step is a compare-and-set on what was read, so running the job twice, or two jobs for
one comment at once, changes a comment once. Reports whose job Redis lost are queued again
by ``sweep_reports`` (the outbox is ``comment_reports.job_id`` / ``reconsidered_at``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any

import redis
from rq import Queue, Retry
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from moderation import audit, defaults, sites, webhooks
from moderation.db.models import (
    DEFAULT_SITE,
    Comment,
    CommentReport,
    CommentStatus,
    DecidedBy,
    Decision,
    utcnow,
)
from moderation.db.scoping import current_site, site_session
from moderation.decisions import record_decision, rules_context
from moderation.exceptions import QueueUnavailableError
from moderation.policy import (
    Action,
    EvaluationContext,
    Reason,
    ReportCounts,
    Rule,
    RuleSet,
)
from moderation.queue import enqueue_explain, read_by_people, requeue_orphans, scoring_queue
from moderation.reports import NO_TALLY, mark_reconsidered, report_tallies
from moderation.scoring import spans_pending
from moderation.settings import Settings

log = logging.getLogger(__name__)

RECONSIDER_JOB = "workers.jobs.reconsider_comments"
SWEEP_LOCK = "moderation:reports:sweeper:lock"

REPORTS_REASON = "system:reports"
"""The reason naming the reports when no rule that read them is among the reasons."""
HIDDEN_RULE = "system:hidden-by-reports"
"""The rule of the escalation of a comment hidden by reports that the rules left approved."""
REPORTED_LABEL = "reported"
HIDDEN_LABEL = "hidden"


class Outcome(str, Enum):  # noqa: UP042 - reported in job results and logs
    GONE = "gone"
    PENDING = "pending"
    """Not decided yet: its scoring job counts the reports."""
    UNCHANGED = "unchanged"
    REQUEUED = "requeued"
    """Sent back to the review queue."""
    REPRIORITISED = "reprioritised"
    """Its open review's priority was raised."""


@dataclass(frozen=True)
class Reconsidered:
    comment_id: str
    outcome: Outcome
    hidden: bool = False
    """Hidden by this run (the publisher's ``comment.hidden`` was recorded)."""
    explain: bool = False
    """Its evidence spans are pending and people will now read it: queue them."""


# --- the job's work -------------------------------------------------------------------


def reconsider_comments(
    *,
    session_factory: sessionmaker[Session],
    conn: redis.Redis | None,
    settings: Settings,
    ruleset: RuleSet,
    comment_ids: Sequence[str],
    site: str = DEFAULT_SITE,
) -> list[Reconsidered]:
    """Reconsider each comment of ``site`` in a transaction of its own; after each commit,
    queue the webhooks it recorded and the spans a re-queued comment needs."""
    results = []
    for comment_id in dict.fromkeys(comment_ids):
        with site_session(session_factory, site) as session:
            result = reconsider(
                session=session, ruleset=ruleset, settings=settings, comment_id=comment_id
            )
            session.commit()
            webhooks.enqueue_recorded(session, conn=conn, settings=settings)
        if result.explain:
            enqueue_explain(conn=conn, settings=settings, site=site, comment_ids=[comment_id])
        results.append(result)
    return results


def reconsider(
    *, session: Session, ruleset: RuleSet, settings: Settings, comment_id: str
) -> Reconsidered:
    """Reconsider one comment with its reports (see the module's docstring); the caller
    commits."""
    started = utcnow()
    comment = session.scalar(
        select(Comment)
        .where(Comment.id == comment_id)
        .options(
            selectinload(Comment.decisions),
            selectinload(Comment.scores),
            selectinload(Comment.article),
        )
    )
    if comment is None:
        return Reconsidered(comment_id, Outcome.GONE)
    counts = report_tallies(session, [comment_id]).get(comment_id, NO_TALLY).unreviewed
    if comment.status == CommentStatus.APPROVED.value:
        result = _reconsider_approved(session, ruleset, settings, comment, counts)
    elif comment.status == CommentStatus.ESCALATED.value:
        result = _reconsider_escalated(session, ruleset, settings, comment, counts)
    elif comment.status == CommentStatus.PENDING.value:
        result = Reconsidered(comment_id, Outcome.PENDING)
    else:
        result = Reconsidered(comment_id, Outcome.UNCHANGED)
    mark_reconsidered(session, comment_id, up_to=started)
    return result


def _reconsider_approved(
    session: Session, ruleset: RuleSet, settings: Settings, comment: Comment, counts: ReportCounts
) -> Reconsidered:
    latest = comment.decisions[-1] if comment.decisions else None
    by_moderator = latest is not None and latest.decided_by == DecidedBy.MODERATOR.value
    ctx = rules_context(session, comment, ruleset, report_counts=counts)
    verdict = ruleset.evaluate(ctx)
    reported = _reporting(ruleset, ctx)
    reopen = verdict.action is not Action.APPROVE
    if by_moderator:
        # The moderator saw what the scores say: only a rule on the reports reopens it.
        reopen = reopen and bool(reported)
    hide = _hide_due(settings, comment, counts)
    if not reopen and not hide:
        return Reconsidered(comment.id, Outcome.UNCHANGED)

    since = "the moderator's approval" if by_moderator else "it was approved"
    note = f"{_reports_text(counts)} since {since}"
    if reopen and verdict.action is Action.REJECT:  # never rejected without a person
        note += f"; the rules would reject it ({verdict.rule}), but it was published: a person "
        note += "decides"
    if hide:
        note += "; hidden pending review"
    rejecting = reopen and verdict.action is Action.REJECT
    reasons = _with_report_reasons(verdict.reasons, reported)
    if not reported or hide or rejecting:
        reasons.insert(0, {"rule": REPORTS_REASON, "message": note})
    labels = [*verdict.labels, *_labels(reported), REPORTED_LABEL] + (
        [HIDDEN_LABEL] if hide else []
    )
    # Sent back by the rules, or by the hide threshold alone (the rules would keep it).
    decided_by, rule = (
        (DecidedBy.RULES, verdict.rule) if reopen else (DecidedBy.SYSTEM, HIDDEN_RULE)
    )
    priority = max([verdict.priority, *(rule.priority for rule, _ in reported)])
    if hide:
        priority = max(priority, defaults.HIDDEN_REVIEW_PRIORITY)
    decision = record_decision(
        session=session,
        comment=comment,
        action=Action.ESCALATE,
        decided_by=decided_by,
        reasons=reasons,
        rules_version=ruleset.version,
        rule=rule,
        priority=priority,
        labels=list(dict.fromkeys(labels)),
        only_if_status=CommentStatus.APPROVED.value,
        webhook_url=None,  # still published: the publisher hears of it when hidden or decided
    )
    if decision is None:  # decided meanwhile (a moderator, another run)
        return Reconsidered(comment.id, Outcome.UNCHANGED)
    audit.record(
        session,
        actor=decided_by.value,
        action="comment.requeue",
        subject_type="comment",
        subject_id=comment.id,
        from_state=CommentStatus.APPROVED.value,
        to_state=CommentStatus.ESCALATED.value,
        detail={
            "reports": dict(counts.by_reason),
            "approved_by": latest.decided_by if latest is not None else None,
            "rule": rule,
            "verdict": verdict.action.value,
            "rules_version": ruleset.version,
            "hide": hide,
        },
    )
    hidden = hide and _hide(session, settings, comment, counts, decision)
    explain = read_by_people(Action.ESCALATE.value) and any(
        spans_pending(s.evidence) for s in comment.scores
    )
    return Reconsidered(comment.id, Outcome.REQUEUED, hidden=hidden, explain=explain)


def _reconsider_escalated(
    session: Session, ruleset: RuleSet, settings: Settings, comment: Comment, counts: ReportCounts
) -> Reconsidered:
    escalation = comment.decisions[-1] if comment.decisions else None
    if escalation is None or escalation.action != Action.ESCALATE.value:
        return Reconsidered(comment.id, Outcome.UNCHANGED)
    ctx = rules_context(session, comment, ruleset, report_counts=counts)
    verdict = ruleset.evaluate(ctx)
    reported = _reporting(ruleset, ctx)
    hide = _hide_due(settings, comment, counts)
    priority = max([verdict.priority, *(rule.priority for rule, _ in reported)])
    if hide:
        priority = max(priority, defaults.HIDDEN_REVIEW_PRIORITY)
    raised = False
    if priority > escalation.priority:
        reasons = list(escalation.reasons or [])
        known = {r["rule"] for r in reasons}
        added = [
            r for r in _with_report_reasons(verdict.reasons, reported) if r["rule"] not in known
        ]
        if not reported or hide:
            note = f"{_reports_text(counts)}" + ("; hidden pending review" if hide else "")
            added.insert(0, {"rule": REPORTS_REASON, "message": note})
        labels = [*(escalation.labels or []), *verdict.labels, *_labels(reported), REPORTED_LABEL]
        if hide:
            labels.append(HIDDEN_LABEL)
        old = escalation.priority
        changed = session.execute(
            update(Decision)
            .where(Decision.id == escalation.id, Decision.priority == old)
            .values(
                priority=priority,
                labels=list(dict.fromkeys(labels)),
                reasons=[*[r for r in reasons if r["rule"] != REPORTS_REASON], *added],
            )
            .execution_options(synchronize_session=False)
        )
        raised = bool(changed.rowcount)  # type: ignore[attr-defined]
        if raised:
            audit.record(
                session,
                actor=DecidedBy.RULES.value,
                action="review.reprioritise",
                subject_type="comment",
                subject_id=comment.id,
                from_state=str(old),
                to_state=str(priority),
                detail={"reports": dict(counts.by_reason), "rules_version": ruleset.version,
                        "decision_id": escalation.id},
            )  # fmt: skip
    hidden = hide and _hide(session, settings, comment, counts, escalation)
    outcome = Outcome.REPRIORITISED if raised else Outcome.UNCHANGED
    return Reconsidered(comment.id, outcome, hidden=hidden)


def _reports_text(counts: ReportCounts) -> str:
    n = counts.total
    return f"{n} reader report{'s' if n != 1 else ''} ({counts.summary()})"


def _reporting(ruleset: RuleSet, ctx: EvaluationContext) -> list[tuple[Rule, Reason]]:
    """The rules on the reports that match and would send the comment to a person (their
    messages say why the reports matter; no other reason then needs to)."""
    return [
        (rule, reason)
        for rule, reason in ruleset.matching_report_rules(ctx)
        if rule.action is not Action.APPROVE
    ]


def _labels(reported: Sequence[tuple[Rule, Reason]]) -> list[str]:
    return [label for rule, _ in reported for label in rule.labels]


def _with_report_reasons(
    reasons: Sequence[Reason], reported: Sequence[tuple[Rule, Reason]]
) -> list[dict[str, str]]:
    """The verdict's reasons (the default's left out), then those of the matching rules on
    the reports that the evaluation did not reach."""
    out = [{"rule": r.rule, "message": r.message} for r in reasons if r.rule != "default"]
    seen = {r["rule"] for r in out}
    out += [{"rule": r.rule, "message": r.message} for _, r in reported if r.rule not in seen]
    return out


# --- hiding ---------------------------------------------------------------------------


def published(comment: Comment) -> bool:
    """Whether the publisher shows the comment: approved, or approved and sent back to review
    by reports (the only way an approved comment becomes escalated)."""
    if comment.status == CommentStatus.APPROVED.value:
        return True
    decisions = comment.decisions
    return (
        comment.status == CommentStatus.ESCALATED.value
        and len(decisions) >= 2
        and decisions[-1].action == Action.ESCALATE.value
        and decisions[-2].action == Action.APPROVE.value
    )


def _hide_due(settings: Settings, comment: Comment, counts: ReportCounts) -> bool:
    threshold = settings.report_hide_threshold
    return (
        threshold > 0
        and counts.total >= threshold
        and comment.hidden_at is None
        and published(comment)
    )


def _hide(
    session: Session,
    settings: Settings,
    comment: Comment,
    counts: ReportCounts,
    decision: Decision | None,
) -> bool:
    """Mark the comment hidden, once (compare-and-set on ``hidden_at``), and record the
    publisher's ``comment.hidden`` in this transaction; whether this call hid it."""
    now = utcnow()
    changed = session.execute(
        update(Comment)
        .where(Comment.id == comment.id, Comment.hidden_at.is_(None))
        .values(hidden_at=now)
        .execution_options(synchronize_session=False)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False
    comment.hidden_at = now
    audit.record(
        session,
        actor=DecidedBy.SYSTEM.value,
        action="comment.hide",
        subject_type="comment",
        subject_id=comment.id,
        from_state="published",
        to_state="hidden",
        detail={"reports": dict(counts.by_reason), "threshold": settings.report_hide_threshold},
    )
    url = sites.webhook_url(session, settings)
    if url:
        webhooks.record_delivery(
            session,
            comment,
            webhooks.hidden_payload(comment, decision, counts, now),
            decision,
            url=url,
        )
    return True


# --- queueing -------------------------------------------------------------------------


def enqueue_reconsider(
    *, session: Session, conn: redis.Redis, settings: Settings, comment_ids: Sequence[str]
) -> list[str]:
    """After the report's commit: queue one reconsideration job per comment on the live lane
    and record the job id on its reports not yet reconsidered; the job ids. Raises
    ``QueueUnavailableError`` when Redis cannot be reached (``sweep_reports`` queues them)."""
    ids = list(dict.fromkeys(comment_ids))
    if not ids:
        return []
    site = current_site(session)
    job_ids = [f"reconsider-{uuid.uuid4().hex}" for _ in ids]
    queue = scoring_queue(conn, settings)
    try:
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    RECONSIDER_JOB,
                    ([comment_id], site),
                    job_id=job_id,
                    timeout=settings.job_timeout,
                    result_ttl=3600,
                    failure_ttl=7 * 24 * 3600,
                    retry=Retry(max=2, interval=[2, 10]),
                    description=f"reconsider comment {comment_id} after reports",
                )
                for comment_id, job_id in zip(ids, job_ids, strict=True)
            ]
        )
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise QueueUnavailableError(f"Redis is unreachable: {exc}") from exc
    for comment_id, job_id in zip(ids, job_ids, strict=True):
        session.execute(
            update(CommentReport)
            .where(CommentReport.comment_id == comment_id, CommentReport.reconsidered_at.is_(None))
            .values(job_id=job_id)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return job_ids


def sweep_reports(
    *,
    session_factory: sessionmaker[Session],
    conn: redis.Redis,
    settings: Settings,
    after_seconds: float = defaults.DEFAULT_REPORTS_SWEEP_AFTER_SECONDS,
    limit: int = 1000,
) -> int:
    """Queue again the comments whose reports were not reconsidered and whose job is not
    live (Redis was down when the report came, or lost the job); returns how many reports
    were found so."""
    cutoff = utcnow() - timedelta(seconds=after_seconds)
    return requeue_orphans(
        session_factory=session_factory,
        conn=conn,
        lock=SWEEP_LOCK,
        lock_ms=int(settings.sweep_interval_seconds * 1000),
        rows=select(CommentReport.comment_id, CommentReport.job_id, CommentReport.site_id)
        .where(CommentReport.reconsidered_at.is_(None), CommentReport.created_at <= cutoff)
        .order_by(CommentReport.created_at)
        .limit(limit),
        enqueue=lambda session, ids: enqueue_reconsider(
            session=session, conn=conn, settings=settings, comment_ids=ids
        ),
        what="reported comment(s) not reconsidered",
    )


def job_result(results: Sequence[Reconsidered]) -> dict[str, Any]:
    """What the RQ job returns: each comment's outcome."""
    return {
        "outcomes": {r.comment_id: r.outcome.value for r in results},
        "hidden": sorted(r.comment_id for r in results if r.hidden),
    }
