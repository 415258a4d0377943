"""Articles: what comments are about. Stored by the publisher's id, updated in place."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderation import audit
from moderation.db.models import Article
from moderation.db.scoping import in_site
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
    """Create or update an article; returns ``(article, created)``.

    Two requests that create the same article at once store one row: the one that loses
    the race updates it instead (and answers "updated")."""
    fields = dict(
        title=title,
        body=body,
        url=url,
        section=section,
        tags=list(tags or []),
        published_at=published_at,
    )
    digest = content_hash(title, body)
    article = session.get(Article, in_site(session, article_id))
    created = False
    if article is None:
        try:
            with session.begin_nested():  # undoes only this insert if another one wins
                article = Article(id=article_id, content_hash=digest, **fields)
                session.add(article)
            created = True
        except IntegrityError:
            article = session.get(Article, in_site(session, article_id))
            if article is None:
                raise
    changed = created or any(getattr(article, k) != v for k, v in fields.items())
    for name, value in fields.items():
        setattr(article, name, value)
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
