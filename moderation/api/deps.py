"""Dependencies for routes, as ``Annotated`` aliases: ``SessionDep``, ``SettingsDep``,
``RedisDep``, and role checks (``PublisherDep``, ``ModeratorDep``, ``AdminDep``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

import redis
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from moderation.auth import KeyRing, Principal, Role
from moderation.rulebook import Rulebook
from moderation.settings import Settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_redis(request: Request) -> redis.Redis:
    return request.app.state.redis  # type: ignore[no-any-return]


def get_rulebook(request: Request) -> Rulebook:
    return request.app.state.rulebook  # type: ignore[no-any-return]


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
RulebookDep = Annotated[Rulebook, Depends(get_rulebook)]


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
    return principal


def require(*roles: Role) -> Callable[..., Principal]:
    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.can(*roles):
            allowed = ", ".join(sorted({r.value for r in roles} | {Role.ADMIN.value}))
            raise HTTPException(
                403, f"the {principal.role.value} role cannot do this; needs one of: {allowed}"
            )
        return principal

    return check


PublisherDep = Annotated[Principal, Depends(require(Role.PUBLISHER))]
ModeratorDep = Annotated[Principal, Depends(require(Role.MODERATOR))]
AdminDep = Annotated[Principal, Depends(require())]
