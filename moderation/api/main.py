"""Builds the FastAPI app. Connections are made here once and handed to routes via deps."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from moderation import __version__, logs, web
from moderation.api import docs, errors, openapi, unavailable
from moderation.api.routes import (
    articles,
    audit,
    authors,
    comments,
    decisions,
    discovery,
    health,
    metrics,
    perspective,
    reports,
    reviews,
    rules,
    sites,
    webhooks,
)
from moderation.auth import KeyRing, load_or_generate
from moderation.connections import connect, resolve_redis_url
from moderation.db import make_engine, make_session_factory
from moderation.metrics import Flusher
from moderation.perspective.analyzer import Analyzer
from moderation.perspective.attributes import load_table
from moderation.quotas import RateLimiter
from moderation.rulebook import Rulebooks
from moderation.scoring import expected_labels
from moderation.settings import Settings, get_settings
from moderation.sites import Quotas, SiteDirectory

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    keys = settings.api_keys or load_or_generate(settings.var_dir)[0]
    engine = make_engine(settings.effective_database_url)
    session_factory = make_session_factory(engine)
    directory = SiteDirectory(session_factory)
    keyring = KeyRing.parse(keys).with_stored(directory.stored_key)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.analyzer is not None:
            app.state.analyzer.start()  # loads the models in the background
        flusher = Flusher(app.state.redis, settings.queue)  # this process's counts, each second
        flusher.start()
        yield
        flusher.stop()
        if app.state.analyzer is not None:
            app.state.analyzer.close()
        app.state.redis.close()
        engine.dispose()

    app = FastAPI(
        title="Comment moderation",
        version=__version__,
        summary="Scores reader comments for abuse, relevance and spam; rules decide; "
        "moderators review the rest.",
        lifespan=lifespan,
        docs_url=None,  # served by moderation.api.docs, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.keyring = keyring
    app.state.sites = directory
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.redis = connect(resolve_redis_url(settings.redis_url, settings.var_dir))
    app.state.quotas = Quotas(RateLimiter(app.state.redis), directory, settings)
    # The API loads no models: it checks score names against what the configured scorers
    # will produce (Detoxify's labels are known only to the workers that load it).
    app.state.rulebooks = Rulebooks(
        settings.rules,
        available_scores=expected_labels(settings),
        session_factory=app.state.session_factory,
        check_interval=settings.rules_reload_interval_seconds,
    )
    app.state.rulebook = app.state.rulebooks.default
    # The Perspective-compatible API scores in this process (the one exception to "the API
    # never scores"), with the models loaded once, in the background, at startup.
    app.state.perspective_attributes = load_table()
    app.state.analyzer = (
        Analyzer.from_settings(settings, rules=app.state.rulebook.current)
        if settings.perspective_enabled
        else None
    )
    perspective.install_log_filter()
    errors.install(app)
    unavailable.install(app)
    app.add_middleware(
        errors.BodySizeLimit,
        default=settings.max_body_bytes,
        limits={("POST", "/v1/comments/batch"): settings.max_batch_body_bytes},
    )
    app.add_middleware(metrics.RequestCounter)  # outermost: counts the 413s too
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(articles.router)
    app.include_router(comments.router)
    app.include_router(reports.router)
    app.include_router(decisions.router)
    app.include_router(reviews.router)
    app.include_router(authors.router)
    app.include_router(audit.router)
    app.include_router(webhooks.router)
    app.include_router(rules.router)
    app.include_router(sites.router)
    app.include_router(perspective.router)
    app.include_router(perspective.admin_router)
    app.include_router(discovery.router)
    app.include_router(web.router)
    docs.install(app)
    openapi.install(app, settings)
    return app


def create_served_app() -> FastAPI:
    """``uvicorn --factory moderation.api.main:create_served_app``: the app with this
    process's logging set from the settings (JSON lines in a container), as ``moderation
    serve`` sets it for the API it runs."""
    settings = get_settings()
    logs.configure(log_format=settings.log_format, log_text=settings.log_text, process="api")
    return create_app(settings)
