"""API keys kept in the database (``moderation keys create|list|revoke``).

A key is random (32 bytes), shown once when it is made and stored as its SHA-256 with its
first characters (to tell keys apart in a list). Revoking keeps the row, for the audit log;
every API process stops accepting the key within ``sites.DIRECTORY_TTL_SECONDS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation import audit
from moderation.auth import Role, key_digest, new_key
from moderation.db.models import DEFAULT_SITE, ApiKey, utcnow
from moderation.exceptions import ConfigurationError, NotFoundError
from moderation.sites import get_site

PREFIX_LENGTH = 6


@dataclass(frozen=True)
class NewKey:
    row: ApiKey
    key: str
    """The key itself: shown once, never stored."""


def create_key(
    session: Session,
    *,
    role: Role,
    site_id: str | None,
    name: str,
    actor: str,
    requests_per_second: float | None = None,
    burst: int | None = None,
) -> NewKey:
    """A new key of ``role`` on ``site_id`` (None only for an operator)."""
    if role is Role.OPERATOR and site_id is not None:
        raise ConfigurationError(
            "an operator key works on every site: make it without --site (for one site's "
            "administrator use --role admin --site SITE)"
        )
    if role is not Role.OPERATOR and site_id is None:
        raise ConfigurationError(f"a {role.value} key belongs to a site: give --site SITE")
    if site_id is not None:
        get_site(session, site_id)
    if requests_per_second is not None and requests_per_second <= 0:
        raise ConfigurationError("--requests-per-second must be more than 0")
    if burst is not None and burst < 1:
        raise ConfigurationError("--burst must be at least 1")
    if not name.strip():
        raise ConfigurationError("--name must not be empty")
    key = new_key()
    row = ApiKey(
        site_id=site_id,
        role=role.value,
        name=name.strip(),
        key_hash=key_digest(key),
        prefix=key[:PREFIX_LENGTH],
        requests_per_second=requests_per_second,
        burst=burst,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="key.created",
        subject_type="key",
        subject_id=str(row.id),
        detail={"role": role.value, "name": row.name, "prefix": row.prefix},
        site_id=site_id or _group_site(session),
    )
    return NewKey(row, key)


def _group_site(session: Session) -> str:
    """Where a group-wide event is logged: the default site's log."""
    return DEFAULT_SITE


def list_keys(session: Session, *, site_id: str | None = None) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.site_id, ApiKey.id)
    if site_id is not None:
        stmt = stmt.where(ApiKey.site_id == site_id)
    return list(session.scalars(stmt))


def revoke_key(session: Session, key_id: int, *, actor: str) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFoundError("key", str(key_id))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session,
            actor=actor,
            action="key.revoked",
            subject_type="key",
            subject_id=str(row.id),
            detail={"role": row.role, "name": row.name, "prefix": row.prefix},
            site_id=row.site_id or _group_site(session),
        )
    return row
