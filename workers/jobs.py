"""RQ jobs. Each takes ids, re-reads state, and returns early when there is nothing to do,
so a job that runs twice (a retry, a sweep after a crash) is harmless."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from moderation import webhooks
from moderation.db.models import (
    Article,
    ArticleFeature,
    Comment,
    CommentStatus,
    DecidedBy,
    Score,
)
from moderation.decisions import record_decision, rules_context
from moderation.policy import Action
from moderation.scoring import ArticleInput, CommentInput, ScorerSet
from workers.runtime import Runtime, get_runtime

log = logging.getLogger(__name__)


def score_comments(comment_ids: Sequence[str]) -> dict[str, Any]:
    """Score and decide pending comments (the RQ entry point)."""
    return process_comments(get_runtime(), comment_ids)


def process_comments(rt: Runtime, comment_ids: Sequence[str]) -> dict[str, Any]:
    pending = CommentStatus.PENDING.value
    with rt.session_factory() as session:
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

        give_up = [c for c in comments if c.scoring_attempts > rt.settings.max_scoring_attempts]
        for c in give_up:
            _escalate_unscorable(
                session, c, rt.settings.max_scoring_attempts, rt.settings.webhook_url
            )
        comments = [c for c in comments if c not in give_up]
        session.commit()
        webhooks.enqueue_recorded(session, conn=rt.redis, settings=rt.settings)
        if not comments:
            return result

        try:
            inputs = _inputs(session, rt.scorers, comments)
            scored = rt.scorers.score(inputs)
        except Exception as exc:
            session.rollback()
            for c in comments:
                c.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            session.commit()
            raise

        ruleset = rt.rulebook.current()
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
                session, comment, ruleset, scores=outcome.scores, evidence=outcome.evidence
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
                only_if_status=pending,
                webhook_url=rt.settings.webhook_url,
            )
            if decision is not None:
                result["decided"].append(comment.id)
        session.commit()
        webhooks.enqueue_recorded(session, conn=rt.redis, settings=rt.settings)
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


def deliver_webhook(delivery_id: str) -> dict[str, Any] | None:
    """One delivery attempt to the publisher (the RQ entry point); schedules its own retry."""
    rt = get_runtime()
    result = webhooks.deliver(
        session_factory=rt.session_factory,
        conn=rt.redis,
        settings=rt.settings,
        delivery_id=delivery_id,
    )
    return None if result is None else {"attempt": result.number, "delivered": result.delivered}
