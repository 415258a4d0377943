"""Dependencies for routes, as ``Annotated`` aliases: ``SessionDep`` (a session of the
caller's site), ``SiteDep``, ``SettingsDep``, ``RedisDep``, and role checks
(``PublisherDep``, ``ModeratorDep``, ``AdminDep``, ``OperatorDep``).

Every keyed request is counted against its key's quota (``moderation.quotas``) when it is
authenticated, and works on one site: its key's, or for an operator key the one it names
with ``?site=``. A site the key cannot see is answered like an id that does not exist."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated

import redis
from fastapi import Depends, HTTPException, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from moderation.auth import KeyRing, Principal, Role
from moderation.db.scoping import site_session
from moderation.quotas import retry_after_header
from moderation.rulebook import Rulebook, Rulebooks
from moderation.settings import Settings
from moderation.sites import Quotas, SiteDirectory

log = logging.getLogger(__name__)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_redis(request: Request) -> redis.Redis:
    return request.app.state.redis  # type: ignore[no-any-return]


def get_rulebooks(request: Request) -> Rulebooks:
    return request.app.state.rulebooks  # type: ignore[no-any-return]


def get_directory(request: Request) -> SiteDirectory:
    return request.app.state.sites  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
RulebooksDep = Annotated[Rulebooks, Depends(get_rulebooks)]
DirectoryDep = Annotated[SiteDirectory, Depends(get_directory)]


BEARER = "bearerKey"
"""The security scheme's name in the OpenAPI document."""
bearer_scheme = HTTPBearer(
    scheme_name=BEARER,
    description="An API key of MODERATION_API_KEYS, sent as 'Authorization: Bearer <key>'. "
    "Publisher keys: articles and comments; moderator keys: reviews and decisions; admin keys: "
    "everything.",
    auto_error=False,  # the header is read below, so that each mistake gets its own message
)


BEARER_HINT = "use 'Authorization: Bearer <key>'"


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def authenticate(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise _unauthorized(f"missing API key: {BEARER_HINT}")
    scheme, _, key = header.partition(" ")
    if not key.strip():
        # One word: a key sent without its scheme, or the scheme without its key.
        if scheme.lower() == "bearer":
            raise _unauthorized(f"no key after 'Bearer' in the Authorization header: {BEARER_HINT}")
        raise _unauthorized(f"the Authorization header has no scheme: {BEARER_HINT}")
    if scheme.lower() != "bearer":
        raise _unauthorized(f"unsupported authorization scheme {scheme[:20]!r}: {BEARER_HINT}")
    keyring: KeyRing = request.app.state.keyring
    principal = keyring.authenticate(key.strip())
    if principal is None:
        raise _unauthorized("unknown API key")
    check_quota(request, principal)
    return principal


def check_quota(request: Request, principal: Principal) -> None:
    """Take one request from the key's quota; 429 with ``Retry-After`` when it is spent. A
    Redis that does not answer counts nothing and lets the request through (comments must
    still be accepted: they wait for Redis in the database)."""
    quotas: Quotas | None = getattr(request.app.state, "quotas", None)
    if quotas is None:
        return
    try:
        decision = quotas.take(principal)
    except redis.RedisError as exc:
        log.warning("request quota not counted (Redis: %s)", type(exc).__name__)
        return
    if decision is not None and not decision.allowed:
        raise HTTPException(
            429,
            f"this key's quota of {decision.limit} requests at once, refilled at "
            f"{quotas.rate_of(principal):g} a second, is spent: retry in "
            f"{decision.retry_after:.3f} s",
            headers={"Retry-After": retry_after_header(decision.retry_after)},
        )


SITE_QUERY = Query(
    description="The site this request works on: only for operator keys, which belong to "
    "no site (other keys work on their own site; naming another is answered 404).",
    max_length=64,
)


def request_site(
    principal: Annotated[Principal, Depends(authenticate)],
    directory: DirectoryDep,
    site: Annotated[str | None, SITE_QUERY] = None,
) -> str:
    """The one site the request works on."""
    if principal.site is None:
        if site is None:
            raise HTTPException(
                400,
                "an operator key works on one site per request: add ?site=SITE (sites: "
                + ", ".join(sorted(s.id for s in directory.sites()))
                + ")",
            )
        if directory.site(site) is None:
            raise HTTPException(404, f"site {site!r} not found")
        return site
    if site is not None and site != principal.site:
        raise HTTPException(404, f"site {site!r} not found")
    if directory.site(principal.site) is None:
        raise _unauthorized(
            f"this key's site {principal.site!r} does not exist: create it with "
            f"`moderation sites create {principal.site}`"
        )
    return principal.site


SiteDep = Annotated[str, Depends(request_site)]


def get_session(request: Request, site: SiteDep) -> Iterator[Session]:
    """A session of the request's site: other sites' rows are not there to be found."""
    with site_session(request.app.state.session_factory, site) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_site_rulebook(request: Request, site: SiteDep, directory: DirectoryDep) -> Rulebook:
    """The rules of the request's site: its own file, else the deployment's (no query: the
    directory knows each site's file; loading one may store its version, in a session of
    its own)."""
    from moderation import sites

    rulebooks: Rulebooks = request.app.state.rulebooks
    return rulebooks.for_path(sites.rules_path(directory.site(site), get_settings(request)))


RulebookDep = Annotated[Rulebook, Depends(get_site_rulebook)]


def require(*roles: Role) -> Callable[..., Principal]:
    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.can(*roles):
            allowed = ", ".join(
                sorted({r.value for r in roles} | {Role.ADMIN.value, Role.OPERATOR.value})
            )
            raise HTTPException(
                403, f"the {principal.role.value} role cannot do this; needs one of: {allowed}"
            )
        return principal

    return check


def require_operator(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if principal.role is not Role.OPERATOR:
        raise HTTPException(403, f"the {principal.role.value} role cannot do this; needs: operator")
    return principal


PublisherDep = Annotated[Principal, Depends(require(Role.PUBLISHER))]
ModeratorDep = Annotated[Principal, Depends(require(Role.MODERATOR))]
AdminDep = Annotated[Principal, Depends(require())]
OperatorDep = Annotated[Principal, Depends(require_operator)]
