"""The active rules (admin): what is deciding, reload on demand, stored versions, per-rule
counts. Workers watch the file themselves; ``reload`` here reloads this API process's copy
and reports the errors of a file that would be refused."""

from __future__ import annotations

import pathlib
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import select

from moderation.api.deps import AdminDep, RulebookDep, SessionDep
from moderation.api.errors import ApiError, error_body
from moderation.api.schemas import (
    WINDOW,
    ErrorBody,
    RulesPublic,
    RulesRefusedBody,
    RulesReloadPublic,
    RuleStatsPublic,
    RulesVersionPublic,
)
from moderation.db.models import Decision, RulesVersion, utcnow
from moderation.exceptions import NotFoundError, RulesError
from moderation.rule_stats import parse_window, rule_stats

router = APIRouter(prefix="/v1/rules", tags=["rules"])


@router.get("", response_model=RulesPublic, summary="The active rules version")
def read_rules(rulebook: RulebookDep, _: AdminDep) -> RulesPublic:
    try:
        ruleset = rulebook.current()
    except RulesError as exc:  # never loaded: there is no active version to show
        raise _unavailable(rulebook.path, exc.errors) from None
    return RulesPublic(
        version=ruleset.version,
        source=ruleset.source,
        loaded_at=rulebook.loaded_at,
        rule_ids=[r.id for r in ruleset.rules],
        files=[str(f) for f in ruleset.files],
        refused_reload=list(rulebook.last_errors),
    )


@router.post(
    "/reload",
    response_model=RulesReloadPublic,
    responses={422: {"model": RulesRefusedBody, "description": "The file was refused"}},
    summary="Reload the rules file now; a file that fails validation is refused",
)
async def reload_rules(rulebook: RulebookDep, _: AdminDep) -> RulesReloadPublic | JSONResponse:
    try:
        previous: str | None = rulebook.ruleset.version
    except RulesError:
        previous = None
    result = await run_in_threadpool(rulebook.reload)
    if result.errors:
        body = error_body(
            "rules_refused",
            f"{rulebook.path} refused with {len(result.errors)} problem(s); "
            f"version {previous[:12] if previous else None} keeps deciding",
            [{"field": "rules", "message": e, "type": "rules_error"} for e in result.errors],
        )
        body |= {"errors": result.errors, "active_version": previous}
        return JSONResponse(body, status_code=422)
    return RulesReloadPublic(
        changed=result.changed, version=result.version, previous_version=previous
    )


@router.get(
    "/stats",
    response_model=RuleStatsPublic,
    responses={422: {"model": ErrorBody}},
    summary="How often each rule decided and matched, by action, over a time window",
)
def read_rule_stats(
    session: SessionDep,
    _: AdminDep,
    since: Annotated[
        str,
        Query(
            description="Window up to now: 30m, 24h, 7d, 2w", json_schema_extra={"pattern": WINDOW}
        ),
    ] = "24h",
    rules_version: Annotated[
        str | None, Query(max_length=64, description="Only decisions of this version")
    ] = None,
) -> RuleStatsPublic:
    try:
        window = parse_window(since)
    except ValueError as exc:
        raise ApiError(
            422, "validation_error", f"since: {exc}",
            [{"field": "since", "message": str(exc), "type": "value_error"}],
        ) from None  # fmt: skip
    now = utcnow()
    stats = rule_stats(session=session, since=now - window, until=now, rules_version=rules_version)
    return RuleStatsPublic.model_validate(stats.as_dict())


@router.get(
    "/versions/{version_hash}",
    response_model=RulesVersionPublic,
    responses={404: {"model": ErrorBody}},
    summary="A rules version that was active at some time",
)
def read_rules_version(
    version_hash: Annotated[str, Path(max_length=64, description="The version's SHA-256")],
    session: SessionDep,
    rulebook: RulebookDep,
    _: AdminDep,
) -> RulesVersionPublic:
    row = session.get(RulesVersion, version_hash)
    # Versions are stored once for every site (by content); a site sees those of the rules
    # file it uses and those that decided its comments, never another site's own rules.
    if row is None or not (
        rulebook.active_version == version_hash
        or pathlib.Path(row.source).resolve() == pathlib.Path(rulebook.path).resolve()
        or session.scalar(
            select(Decision.id).where(Decision.rules_version == version_hash).limit(1)
        )
        is not None
    ):
        raise NotFoundError("rules version", version_hash)
    return RulesVersionPublic(
        hash=row.hash,
        source=row.source,
        content=row.content,
        first_active_at=row.first_active_at,
        sources=row.sources,
    )


def _unavailable(path: object, errors: list[str]) -> ApiError:
    return ApiError(
        503,
        "rules_unavailable",
        f"no rules version is active: {path} has {len(errors)} problem(s)",
        [{"field": "rules", "message": e, "type": "rules_error"} for e in errors],
    )
