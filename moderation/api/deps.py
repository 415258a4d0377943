"""Dependencies for routes, as ``Annotated`` aliases: ``SessionDep``, ``SettingsDep``,
``RedisDep``, and role checks (``PublisherDep``, ``ModeratorDep``, ``AdminDep``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

import redis
from fastapi import Depends, HTTPException, Request
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


def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise HTTPException(
            401,
            "missing API key: send 'Authorization: Bearer KEY'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    keyring: KeyRing = request.app.state.keyring
    principal = keyring.authenticate(key.strip())
    if principal is None:
        raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
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
