from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from moderation.api.deps import PublisherDep, SessionDep
from moderation.api.schemas import ArticlePublic, ArticlePut, Identifier
from moderation.articles import upsert_article
from moderation.db.models import Article
from moderation.db.scoping import in_site
from moderation.db.session import READ_ONLY
from moderation.exceptions import NotFoundError

router = APIRouter(prefix="/v1/articles", tags=["articles"])

ArticleId = Annotated[Identifier, Path(description="The publisher's article id")]


def _public(article: Article) -> ArticlePublic:
    return ArticlePublic.model_validate(article, from_attributes=True)


@router.put(
    "/{article_id}",
    response_model=ArticlePublic,
    responses={201: {"model": ArticlePublic, "description": "Created"}},
    summary="Create or update an article",
)
def put_article(
    article_id: ArticleId,
    article_in: ArticlePut,
    session: SessionDep,
    principal: PublisherDep,
    response: Response,
) -> ArticlePublic:
    article, created = upsert_article(
        session=session,
        article_id=article_id,
        actor=principal.name,
        **article_in.model_dump(),
    )
    session.commit()
    response.status_code = 201 if created else 200
    return _public(article)


@router.get("/{article_id}", response_model=ArticlePublic)
def read_article(article_id: ArticleId, session: SessionDep, _: PublisherDep) -> ArticlePublic:
    session.connection(execution_options={READ_ONLY: True})  # on SQLite, never waits
    article = session.get(Article, in_site(session, article_id))
    if article is None:
        raise NotFoundError("article", article_id)
    return _public(article)
