"""Sites, as a key sees them: an operator every site of the group, an admin its own (made
and changed with ``moderation sites``; secrets are never shown)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from moderation import sites
from moderation.api.deps import AdminDep
from moderation.db.models import Site
from moderation.db.scoping import all_sites_session

router = APIRouter(prefix="/v1/sites", tags=["sites"])


class SitePublic(BaseModel):
    id: str
    name: str
    rules_path: str | None
    """Its own rules file; null: the deployment's."""
    webhook_url: str | None
    webhook_secret_set: bool
    community_ids: list[str]
    requests_per_second: float | None
    burst: int | None
    retention_days: int | None


class SiteList(BaseModel):
    items: list[SitePublic]


def site_public(site: Site) -> SitePublic:
    return SitePublic(
        id=site.id,
        name=site.name,
        rules_path=site.rules_path,
        webhook_url=site.webhook_url,
        webhook_secret_set=bool(site.webhook_secret),
        community_ids=[str(c) for c in site.community_ids or []],
        requests_per_second=site.requests_per_second,
        burst=site.burst,
        retention_days=site.retention_days,
    )


@router.get(
    "",
    response_model=SiteList,
    summary="The sites this key may work on: every site for an operator, else its own",
)
def read_sites(request: Request, principal: AdminDep) -> SiteList:
    # The sites table is the group's register, not a site's rows: read whole, then cut to
    # what the key may see (an operator needs no ?site= here).
    with all_sites_session(request.app.state.session_factory) as session:
        rows = sites.list_sites(session)
    if principal.site is not None:
        rows = [s for s in rows if s.id == principal.site]
    return SiteList(items=[site_public(s) for s in rows])
