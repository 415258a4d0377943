"""Articles: what comments are about. Stored by the publisher's id, updated in place."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from moderation import audit
from moderation.db.models import Article
from moderation.hashing import content_hash


def upsert_article(
    *,
    session: Session,
    article_id: str,
    title: str,
    body: str,
    url: str | None = None,
    section: str | None = None,
    tags: list[str] | None = None,
    published_at: datetime | None = None,
    actor: str = "publisher",
) -> tuple[Article, bool]:
    """Create or update an article; returns ``(article, created)``."""
    tags = list(tags or [])
    digest = content_hash(title, body)
    article = session.get(Article, article_id)
    created = article is None
    if article is None:
        article = Article(id=article_id)
        session.add(article)
    changed = created or any(
        getattr(article, k) != v
        for k, v in dict(
            title=title, body=body, url=url, section=section, tags=tags, published_at=published_at
        ).items()
    )
    article.title = title
    article.body = body
    article.url = url
    article.section = section
    article.tags = tags
    article.published_at = published_at
    article.content_hash = digest
    if changed:
        audit.record(
            session,
            actor=actor,
            action="article.created" if created else "article.updated",
            subject_type="article",
            subject_id=article_id,
        )
    return article, created
