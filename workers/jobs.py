"""RQ jobs. Each takes ids, re-reads state, and returns early when there is nothing to do,
so a job that runs twice (a retry, a sweep after a crash) is harmless.

``score_comments`` decides (with the readers' reports the comment has when the rules read
them, and the status moderators set on its author); ``reconsider_comments`` evaluates a
reported comment again (its stored scores, the current rules, its reports); the evidence
spans, which cost a re-score per word, are left pending and computed afterwards by
``explain_comments``: for a rejected or escalated comment, enqueued once the decision is
committed (and its webhook queued) on the low-priority ``MODERATION_EXPLAIN_QUEUE``; for
an approved one, which nobody reads for its spans, only when the API is asked for them
(``GET /v1/comments/{id}?explain=true``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from moderation import metrics, reasons, reconsideration, reports, sites, webhooks
from moderation.db.models import (
    DEFAULT_SITE,
    Article,
    ArticleFeature,
    Comment,
    CommentStatus,
    DecidedBy,
    Score,
)
from moderation.db.scoping import site_session
from moderation.decisions import author_statuses, record_decision, rules_context
from moderation.policy import NO_REPORTS, Action
from moderation.queue import enqueue_explain, read_by_people
from moderation.scoring import ArticleInput, CommentInput, ScorerSet, spans_pending
from moderation.scoring._explain import with_spans
from workers.runtime import Runtime, get_runtime
from workers.webhook_runtime import deliver_webhook as deliver_webhook  # the job's name

log = logging.getLogger(__name__)


def score_comments(comment_ids: Sequence[str], site: str = DEFAULT_SITE) -> dict[str, Any]:
    """Score and decide pending comments of ``site`` (the RQ entry point; jobs queued before
    sites existed carry no site: the default one's)."""
    return process_comments(get_runtime(), comment_ids, site)


def process_comments(
    rt: Runtime, comment_ids: Sequence[str], site: str = DEFAULT_SITE
) -> dict[str, Any]:
    pending = CommentStatus.PENDING.value
    with site_session(rt.session_factory, site) as session:
        comments = list(
            session.scalars(
                select(Comment)
                .where(Comment.id.in_(list(comment_ids)), Comment.status == pending)
                .options(selectinload(Comment.article), selectinload(Comment.scores))
                .order_by(Comment.received_at)
            )
        )
        result: dict[str, Any] = {"pid": os.getpid(), "decided": [], "skipped": []}
        result["skipped"] = sorted(set(comment_ids) - {c.id for c in comments})
        if not comments:
            return result
        for c in comments:
            c.scoring_attempts += 1
        session.commit()

        webhook_url = sites.webhook_url(session, rt.settings)
        give_up = [c for c in comments if c.scoring_attempts > rt.settings.max_scoring_attempts]
        for c in give_up:
            _escalate_unscorable(session, c, rt.settings.max_scoring_attempts, webhook_url)
        comments = [c for c in comments if c not in give_up]
        session.commit()
        webhooks.enqueue_recorded(session, conn=rt.redis, settings=rt.settings)
        if not comments:
            return result

        try:
            inputs = _inputs(session, rt.scorers, comments)
            session.commit()  # no transaction stays open while the models run
            scored = rt.scorers.score(inputs)
        except Exception as exc:
            session.rollback()
            metrics.inc(metrics.SCORING_FAILURES)
            for c in comments:
                c.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            session.commit()
            raise

        ruleset = rt.ruleset_of(site)  # no transaction open: see Runtime.ruleset_of
        reported = (
            reports.unreviewed_counts(session, [c.id for c in comments])
            if ruleset.needs_reports
            else {}
        )
        # The status moderators set on each author, as in effect now (one query).
        statuses = author_statuses(session, {c.author_id for c in comments})
        unexplained: list[str] = []
        for comment, outcome in zip(comments, scored, strict=True):
            for old in list(comment.scores):
                session.delete(old)
            session.flush()
            for name, value in outcome.scores.items():
                session.add(
                    Score(
                        comment_id=comment.id,
                        name=name,
                        value=float(value),
                        evidence=outcome.evidence.get(name),
                    )
                )
            ctx = rules_context(
                session,
                comment,
                ruleset,
                scores=outcome.scores,
                evidence=outcome.evidence,
                report_counts=reported.get(comment.id, NO_REPORTS),
                author_status=statuses[comment.author_id],
            )
            verdict = ruleset.evaluate(ctx)
            decision = record_decision(
                session=session,
                comment=comment,
                action=verdict.action,
                decided_by=DecidedBy.RULES,
                reasons=[{"rule": r.rule, "message": r.message} for r in verdict.reasons],
                rules_version=ruleset.version,
                rule=verdict.rule,
                priority=verdict.priority,
                labels=verdict.labels,
                reason_code=reasons.rules_reason(ruleset, verdict),
                only_if_status=pending,
                webhook_url=webhook_url,
            )
            if decision is not None:
                result["decided"].append(comment.id)
            if read_by_people(verdict.action.value) and any(
                spans_pending(evidence) for evidence in outcome.evidence.values()
            ):
                unexplained.append(comment.id)
        session.commit()
        webhooks.enqueue_recorded(session, conn=rt.redis, settings=rt.settings)
    # The decisions and their webhooks are out; the spans follow on the low-priority queue.
    enqueue_explain(conn=rt.redis, settings=rt.settings, site=site, comment_ids=unexplained)
    return result


def _inputs(session: Session, scorers: ScorerSet, comments: list[Comment]) -> list[CommentInput]:
    articles = {c.article_id: c.article for c in comments}
    article_inputs = {aid: _article_input(session, scorers, a) for aid, a in articles.items()}
    parent_ids = {c.parent_id for c in comments if c.parent_id}
    parents = (
        dict(
            session.execute(select(Comment.id, Comment.text).where(Comment.id.in_(parent_ids)))
            .tuples()
            .all()
        )
        if parent_ids
        else {}
    )
    return [
        CommentInput(
            id=c.id,
            text=c.text,
            author_id=c.author_id,
            article=article_inputs[c.article_id],
            parent_text=parents.get(c.parent_id) if c.parent_id else None,
        )
        for c in comments
    ]


def _article_input(session: Session, scorers: ScorerSet, article: Article) -> ArticleInput:
    """The article with its per-scorer features, computing and storing missing ones once."""
    base = ArticleInput(
        id=article.id,
        title=article.title,
        body=article.body,
        section=article.section,
        tags=tuple(article.tags or ()),
        content_hash=article.content_hash,
    )
    stored = {
        f.scorer: f
        for f in session.scalars(
            select(ArticleFeature).where(ArticleFeature.article_id == article.id)
        )
    }
    features: dict[str, bytes] = {}
    missing = False
    for name in scorers.featurizer_names:
        row = stored.get(name)
        if row is not None and row.content_hash == article.content_hash:
            features[name] = row.data
        else:
            missing = True
    if missing:
        for name, data in scorers.article_features(base).items():
            if name in features:
                continue
            features[name] = data
            row = stored.get(name)
            if row is None:
                session.add(
                    ArticleFeature(
                        article_id=article.id,
                        scorer=name,
                        content_hash=article.content_hash,
                        data=data,
                    )
                )
            else:
                row.content_hash = article.content_hash
                row.data = data
        try:
            session.commit()
        except IntegrityError:  # another worker stored this article's features first
            session.rollback()
    return replace(base, features=features)


def _escalate_unscorable(
    session: Session, comment: Comment, attempts: int, webhook_url: str | None = None
) -> None:
    record_decision(
        session=session,
        comment=comment,
        action=Action.ESCALATE,
        decided_by=DecidedBy.SYSTEM,
        reasons=[
            {
                "rule": "system:scoring-failed",
                "message": f"scoring failed {attempts} times "
                f"({comment.last_error or 'no error recorded'}); a person must decide",
            }
        ],
        rules_version=None,
        rule="system:scoring-failed",
        priority=100,
        only_if_status=CommentStatus.PENDING.value,
        webhook_url=webhook_url,
    )


def reconsider_comments(comment_ids: Sequence[str], site: str = DEFAULT_SITE) -> dict[str, Any]:
    """Evaluate reported comments of ``site`` again with their stored scores and reports (the
    RQ entry point; ``moderation.reconsideration`` says what that does). Safe to re-run."""
    rt = get_runtime()
    ruleset = rt.ruleset_of(site)
    results = reconsideration.reconsider_comments(
        session_factory=rt.session_factory,
        conn=rt.redis,
        settings=rt.settings,
        ruleset=ruleset,
        comment_ids=comment_ids,
        site=site,
    )
    return {"pid": os.getpid(), **reconsideration.job_result(results)}


def explain_comments(comment_ids: Sequence[str], site: str = DEFAULT_SITE) -> dict[str, Any]:
    """Compute the pending evidence spans of decided comments (the RQ entry point)."""
    return explain_stored(get_runtime(), comment_ids, site)


def explain_stored(
    rt: Runtime, comment_ids: Sequence[str], site: str = DEFAULT_SITE
) -> dict[str, Any]:
    """Fill the pending spans in the stored ``Score.evidence`` of ``comment_ids``.

    Safe to re-run: a score whose spans are there is skipped, and each write is a
    compare-and-set on the score row as read (``scored_at`` and value), so a comment
    re-scored meanwhile keeps its new evidence. The models run with no transaction open."""
    names = rt.scorers.explainer_names
    result: dict[str, Any] = {"pid": os.getpid(), "explained": [], "skipped": []}
    if not names or not comment_ids:
        result["skipped"] = sorted(set(comment_ids))
        return result
    with site_session(rt.session_factory, site) as session:
        rows = session.execute(
            select(Score, Comment.text)
            .join(Comment, Comment.id == Score.comment_id)
            .where(Score.comment_id.in_(list(comment_ids)), Score.name.in_(names))
        ).all()
        todo = [
            (s.comment_id, s.name, s.value, s.scored_at, dict(s.evidence or {}), text)
            for s, text in rows
            if spans_pending(s.evidence)
        ]
    written: set[str] = set()
    for name in names:
        items = [item for item in todo if item[1] == name]
        if not items:
            continue
        spans = rt.scorers.explain(name, [i[5] for i in items], [i[2] for i in items])
        with site_session(rt.session_factory, site) as session:
            for (comment_id, _, value, scored_at, evidence, _), found in zip(
                items, spans, strict=True
            ):
                changed = session.execute(
                    update(Score)
                    .where(
                        Score.comment_id == comment_id,
                        Score.name == name,
                        Score.scored_at == scored_at,
                        Score.value == value,
                    )
                    .values(evidence=with_spans(evidence, found))
                    .execution_options(synchronize_session=False)
                )
                if changed.rowcount:  # type: ignore[attr-defined]
                    written.add(comment_id)
            session.commit()
    result["explained"] = sorted(written)
    result["skipped"] = sorted(set(comment_ids) - written)
    return result
