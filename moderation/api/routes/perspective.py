"""The Perspective API, answered here: ``POST /v1alpha1/comments:analyze`` and
``POST /v1alpha1/comments:suggestscore`` (Google's wire format and errors; docs/perspective.md),
and the admin's view of the suggested scores, ``GET /v1/perspective/suggestions``.

Requests are scored in this process by the app's :class:`~moderation.perspective.analyzer.
Analyzer`, never through the moderation queue. Nothing of a request's text is logged; the
key in the query string is masked in the access log.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Annotated, Any

import redis as redis_lib
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from moderation import sites
from moderation.api.deps import AdminDep, SessionDep
from moderation.auth import KeyRing, Principal, Role
from moderation.db.models import PerspectiveSuggestion
from moderation.db.scoping import site_session
from moderation.perspective import errors
from moderation.perspective.analyzer import Analyzer, Job
from moderation.perspective.attributes import AttributeTable
from moderation.perspective.quota import Metric, over_quota
from moderation.perspective.request import Plan, plan_analysis, plan_suggestion
from moderation.perspective.response import analyze_response, attribute_values
from moderation.perspective.store import list_suggestions, store_analysis, store_suggestions
from moderation.perspective.wire import (
    AnalyzeCommentRequest,
    AnalyzeCommentResponse,
    SuggestCommentScoreRequest,
    SuggestCommentScoreResponse,
)
from moderation.policy import RuleSet
from moderation.rulebook import Rulebooks
from moderation.settings import Settings
from moderation.sites import SiteDirectory

log = logging.getLogger(__name__)

router = APIRouter(tags=["perspective"])
admin_router = APIRouter(prefix="/v1/perspective", tags=["perspective"])


# --- key and quota -----------------------------------------------------------------------


def request_key(request: Request) -> str | None:
    """The API key as Google's clients send it: ``?key=``, ``x-goog-api-key``, or
    ``Authorization: Bearer``."""
    key = request.query_params.get("key") or request.headers.get("x-goog-api-key")
    if not key:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        key = token if scheme.lower() == "bearer" else None
    return key.strip() if key and key.strip() else None


def perspective_principal(request: Request) -> Principal:
    """The key's holder: any publisher, admin or operator key (400, as Google answers,
    otherwise)."""
    key = request_key(request)
    keyring: KeyRing = request.app.state.keyring
    principal = keyring.authenticate(key) if key else None
    if principal is None or not principal.can(Role.PUBLISHER):  # publishers and admins
        raise errors.api_key_invalid()
    return principal


def perspective_site(request: Request, principal: Principal, community_id: str | None) -> str:
    """The site a request is counted to: its key's. A site that lists its communities takes
    only those; an operator key's request goes to the site whose list has its community."""
    directory: SiteDirectory = request.app.state.sites
    if principal.site is None:
        found = directory.site_of_community(community_id) if community_id else None
        if found is None:
            raise errors.community_of_no_site(community_id)
        return found.id
    site = directory.site(principal.site)
    if site is None:
        raise errors.api_key_invalid()
    if community_id is not None and site.community_ids and community_id not in site.community_ids:
        raise errors.community_of_no_site(community_id)
    return site.id


def site_ruleset(request: Request, site: str) -> RuleSet:
    """The rules of ``site`` (its own file, else the deployment's)."""
    rulebooks: Rulebooks = request.app.state.rulebooks
    directory: SiteDirectory = request.app.state.sites
    path = sites.rules_path(directory.site(site), request.app.state.settings)
    return rulebooks.for_path(path).current()


KeyDep = Annotated[Principal, Depends(perspective_principal)]


def _check_quota(request: Request, principal: Principal, metric: Metric) -> None:
    settings: Settings = request.app.state.settings
    if not settings.perspective_qps_per_key:
        return
    try:
        over = over_quota(
            request.app.state.redis,
            key_name=principal.key_id or principal.name,
            metric=metric,
            per_second=settings.perspective_qps_per_key,
        )
    except redis_lib.RedisError as exc:
        # Scoring needs no Redis: an outage must not stop it, only the counting.
        log.warning("Perspective quota not counted (Redis: %s)", type(exc).__name__)
        return
    if over:
        raise errors.quota_exceeded(metric.value, settings.perspective_qps_per_key, principal.name)


def analyze_quota(request: Request, principal: KeyDep) -> Principal:
    _check_quota(request, principal, Metric.ANALYZE)
    return principal


def suggest_quota(request: Request, principal: KeyDep) -> Principal:
    _check_quota(request, principal, Metric.SUGGEST)
    return principal


async def ready_analyzer(request: Request) -> Analyzer:
    analyzer: Analyzer | None = request.app.state.analyzer
    if analyzer is None:
        raise errors.unavailable(
            "the Perspective API is turned off on this server (MODERATION_PERSPECTIVE_ENABLED)."
        )
    if not analyzer.ready:
        wait = request.app.state.settings.perspective_load_wait_seconds
        if not await run_in_threadpool(analyzer.wait_ready, wait):
            why = (
                f"the models could not be loaded ({analyzer.error})."
                if analyzer.error
                else "the models are still loading; try again in a few seconds."
            )
            raise errors.unavailable(why)
    return analyzer


# --- the methods -------------------------------------------------------------------------


@router.post(
    "/v1alpha1/comments:analyze",
    summary="Perspective's AnalyzeComment: scores for the requested attributes",
    response_model=AnalyzeCommentResponse,
    response_model_exclude_none=True,
    response_model_by_alias=True,
)
async def analyze_comment(
    body: AnalyzeCommentRequest,
    request: Request,
    principal: Annotated[Principal, Depends(analyze_quota)],
) -> JSONResponse:
    site = perspective_site(request, principal, body.community_id)
    analyzer = await ready_analyzer(request)
    settings: Settings = request.app.state.settings
    table: AttributeTable = request.app.state.perspective_attributes
    models = analyzer.models
    plan = await run_in_threadpool(
        plan_analysis,
        body,
        table=table,
        backend=settings.toxicity_backend,
        labels=models.scorers.labels,
        detect=models.detector.detect,
    )
    job = Job(
        text=plan.text,
        article=plan.context.article_text() if plan.context.present else None,
        parent=plan.context.parent,
        spans=plan.wants_spans,
        rules=plan.uses_rules,
        ruleset=await run_in_threadpool(site_ruleset, request, site) if plan.uses_rules else None,
    )
    try:
        outcome = await asyncio.wrap_future(analyzer.submit(job))
    except Exception:  # noqa: BLE001 - the analyzer logged it (without the text)
        raise errors.internal_error() from None
    response = analyze_response(plan, outcome)
    if plan.store:
        values = attribute_values(plan, outcome)
        await run_in_threadpool(
            _store_analysis,
            request,
            site,
            plan,
            principal,
            outcome.scores,
            values,
            outcome.rules_version,
        )
    return JSONResponse(response.wire())


def _store_analysis(
    request: Request,
    site: str,
    plan: Plan,
    principal: Principal,
    scores: dict[str, float],
    values: dict[str, float],
    rules_version: str | None,
) -> None:
    try:
        with site_session(request.app.state.session_factory, site) as session:
            store_analysis(
                session,
                plan=plan,
                key_name=principal.name,
                scores=scores,
                attribute_scores=values,
                rules_version=rules_version,
            )
            session.commit()
    except SQLAlchemyError as exc:
        # The scores still go back (the caller's timeout is short); the error's own text
        # would carry the statement's parameters, the comment among them: name its type only.
        log.error("a Perspective request (doNotStore false) was not stored: %s", type(exc).__name__)


@router.post(
    "/v1alpha1/comments:suggestscore",
    summary="Perspective's SuggestCommentScore: a client's label for a comment, stored",
    response_model=SuggestCommentScoreResponse,
    response_model_exclude_none=True,
    response_model_by_alias=True,
)
async def suggest_comment_score(
    body: SuggestCommentScoreRequest,
    request: Request,
    principal: Annotated[Principal, Depends(suggest_quota)],
) -> JSONResponse:
    table: AttributeTable = request.app.state.perspective_attributes
    plan = plan_suggestion(body, table=table)
    site = perspective_site(request, principal, plan.community_id)

    def store() -> None:
        with site_session(request.app.state.session_factory, site) as session:
            store_suggestions(
                session,
                key_name=principal.name,
                values=plan.values,
                text=plan.original if plan.keep_text else None,
                context=plan.context,
                languages=plan.languages,
                community_id=plan.community_id,
                client_token=plan.client_token,
                session_id=plan.session_id,
            )
            session.commit()

    try:
        await run_in_threadpool(store)
    except SQLAlchemyError as exc:
        log.error("a Perspective score suggestion was not stored: %s", type(exc).__name__)
        raise errors.unavailable("the database cannot be reached.") from None
    return JSONResponse(SuggestCommentScoreResponse(client_token=plan.client_token).wire())


# --- the admin's view of the suggestions --------------------------------------------------


class SuggestionPublic(BaseModel):
    id: int
    received_at: str
    key_name: str
    community_id: str | None
    client_token: str | None
    session_id: str | None
    attribute: str
    value: float
    text: str | None
    context: dict[str, Any] | None
    languages: list[str]


class SuggestionPage(BaseModel):
    items: list[SuggestionPublic]
    next_after: int | None
    """Pass as ``after`` for the next page; null on the last page."""


def suggestion_public(row: PerspectiveSuggestion) -> SuggestionPublic:
    return SuggestionPublic(
        id=row.id,
        received_at=row.received_at.isoformat(),
        key_name=row.key_name,
        community_id=row.community_id,
        client_token=row.client_token,
        session_id=row.session_id,
        attribute=row.attribute,
        value=row.value,
        text=row.text,
        context=row.context,
        languages=[str(x) for x in row.languages or []],
    )


@admin_router.get(
    "/suggestions",
    summary="Scores clients suggested (suggestscore), oldest first, by community and attribute",
)
def read_suggestions(
    session: SessionDep,
    _admin: AdminDep,
    community_id: Annotated[str | None, Query(max_length=500)] = None,
    attribute: Annotated[str | None, Query(max_length=100)] = None,
    after: Annotated[
        # Ids are 64-bit: a larger number overflowed SQLite's INTEGER (a 500).
        int | None, Query(ge=0, le=2**63 - 1, description="Last id of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> SuggestionPage:
    rows = list_suggestions(
        session, community_id=community_id, attribute=attribute, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return SuggestionPage(
        items=[suggestion_public(r) for r in rows], next_after=rows[-1].id if more else None
    )


# --- logs --------------------------------------------------------------------------------

_KEY_IN_QUERY = re.compile(r"([?&]key=)[^&\s]*")


class KeyInQueryFilter(logging.Filter):
    """Masks ``key=...`` in uvicorn's access log lines (Google's clients put the key in the
    URL; bodies are never logged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _KEY_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def install_log_filter() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, KeyInQueryFilter) for f in access.filters):
        access.addFilter(KeyInQueryFilter())
