"""What the Perspective-compatible API keeps: analyze requests sent with ``doNotStore`` false
and the scores clients suggest. Both live outside the moderation queue (no comment row, no
job). The session is passed in; these functions commit nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.db.models import PerspectiveRequest, PerspectiveSuggestion
from moderation.perspective.request import CommentContext, Plan


def context_record(context: CommentContext) -> dict[str, Any] | None:
    if not context.present:
        return None
    record: dict[str, Any] = {}
    if context.article is not None:
        record["article"] = context.article
    if context.parent is not None:
        record["parent_comment"] = context.parent
    if context.entries:
        record["entries"] = list(context.entries)
    return record


def store_analysis(
    session: Session,
    *,
    plan: Plan,
    key_name: str,
    scores: Mapping[str, float],
    attribute_scores: Mapping[str, float],
    rules_version: str | None,
) -> PerspectiveRequest:
    row = PerspectiveRequest(
        key_name=key_name,
        community_id=plan.community_id,
        session_id=plan.session_id,
        client_token=plan.client_token,
        text=plan.original,
        text_type=plan.text_type,
        context=context_record(plan.context),
        languages=list(plan.languages),
        detected_languages=list(plan.detected) if plan.detected is not None else None,
        scores={name: float(value) for name, value in scores.items()},
        attribute_scores=dict(attribute_scores),
        rules_version=rules_version,
    )
    session.add(row)
    session.flush()
    return row


def store_suggestions(
    session: Session,
    *,
    key_name: str,
    values: Mapping[str, float],
    text: str | None,
    context: CommentContext,
    languages: Sequence[str],
    community_id: str | None,
    client_token: str | None,
    session_id: str | None,
) -> list[PerspectiveSuggestion]:
    """One row per suggested attribute (``values``: attribute name -> suggested score)."""
    rows = [
        PerspectiveSuggestion(
            key_name=key_name,
            community_id=community_id,
            client_token=client_token,
            session_id=session_id,
            attribute=attribute,
            value=float(value),
            text=text,
            context=context_record(context) if text is not None else None,
            languages=list(languages),
        )
        for attribute, value in values.items()
    ]
    session.add_all(rows)
    session.flush()
    return rows


def list_suggestions(
    session: Session,
    *,
    community_id: str | None = None,
    attribute: str | None = None,
    after: int | None = None,
    limit: int = 100,
) -> list[PerspectiveSuggestion]:
    """Suggestions oldest first, filtered by community and attribute when given; ``after``
    is the last id of the previous page."""
    query = select(PerspectiveSuggestion).order_by(PerspectiveSuggestion.id).limit(limit)
    if community_id is not None:
        query = query.where(PerspectiveSuggestion.community_id == community_id)
    if attribute is not None:
        query = query.where(PerspectiveSuggestion.attribute == attribute)
    if after is not None:
        query = query.where(PerspectiveSuggestion.id > after)
    return list(session.scalars(query))
