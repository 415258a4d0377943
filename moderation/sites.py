"""Sites: one deployment serves a newspaper group, each publication kept apart.

A site has its own rules file (else the deployment's), webhook URL and secret (the default
site falls back to ``MODERATION_WEBHOOK_URL`` and ``_SECRET``), review queue, moderators
and keys, Perspective ``communityId`` values, per-key quotas and text retention. Its rows
carry its id (``moderation.db.scoping`` keeps each session to one site).

``moderation sites create|list|update`` manage them; ``SiteDirectory`` is the API's view of
sites and stored keys, read again from the database every few seconds so that a site or key
made or revoked by the command line reaches every API process without a restart.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from moderation import audit
from moderation.auth import Principal, Role, check_site_id
from moderation.db.models import DEFAULT_SITE, ApiKey, Site
from moderation.db.scoping import all_sites_session, current_site
from moderation.exceptions import ConfigurationError, ConflictError, NotFoundError
from moderation.quotas import Quota, QuotaDecision, RateLimiter
from moderation.settings import Settings

T = TypeVar("T")

DIRECTORY_TTL_SECONDS = 5.0
"""How long the API trusts its copy of the sites and stored keys (a revoked key stops
working within this time in every process)."""

MISS_REFRESH_SECONDS = 1.0
"""A key not found in the copy reads the database again, at most this often (unknown keys
sent in a loop must not become one query each)."""


@dataclass(frozen=True)
class SiteView:
    """What the API needs of a site on each request, without a query."""

    id: str
    name: str
    community_ids: tuple[str, ...] = ()
    requests_per_second: float | None = None
    burst: int | None = None
    rules_path: str | None = None


@dataclass
class SiteChanges:
    """Fields of ``moderation sites create|update`` (None: unchanged / unset)."""

    name: str | None = None
    rules_path: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    community_ids: list[str] | None = None
    requests_per_second: float | None = None
    burst: int | None = None
    retention_days: int | None = None
    clear: set[str] = field(default_factory=set)
    """Fields to set back to null (the deployment's default)."""


FIELDS = (
    "name",
    "rules_path",
    "webhook_url",
    "webhook_secret",
    "community_ids",
    "requests_per_second",
    "burst",
    "retention_days",
)


def _check(changes: SiteChanges) -> None:
    if changes.requests_per_second is not None and changes.requests_per_second <= 0:
        raise ConfigurationError("--requests-per-second must be more than 0")
    if changes.burst is not None and changes.burst < 1:
        raise ConfigurationError("--burst must be at least 1")
    if changes.retention_days is not None and changes.retention_days < 1:
        raise ConfigurationError("--retention-days must be at least 1 (omit it to keep text)")
    if changes.webhook_url is not None and not changes.webhook_url.startswith(
        ("http://", "https://")
    ):
        raise ConfigurationError(
            f"--webhook-url {changes.webhook_url!r} is not an http:// or https:// URL"
        )
    if changes.rules_path is not None and not Path(changes.rules_path).is_file():
        raise ConfigurationError(f"--rules {changes.rules_path!r}: no such file")
    unknown = changes.clear - set(FIELDS) - {"name"}
    if unknown:
        raise ConfigurationError(
            f"--clear {', '.join(sorted(unknown))}: not a site setting; one of "
            + ", ".join(f for f in FIELDS if f != "name")
        )


def create_site(session: Session, site_id: str, changes: SiteChanges, *, actor: str) -> Site:
    """A new site (``ConflictError`` when the id is taken)."""
    check_site_id(site_id, "the site id")
    _check(changes)
    if session.get(Site, site_id) is not None:
        raise ConflictError(f"site {site_id!r} already exists")
    site = Site(id=site_id, name=changes.name or site_id, community_ids=[])
    _apply(site, changes)
    session.add(site)
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(f"site {site_id!r} already exists") from None
    audit.record(
        session,
        actor=actor,
        action="site.created",
        subject_type="site",
        subject_id=site_id,
        detail=describe(site),
        site_id=site_id,
    )
    return site


def update_site(session: Session, site_id: str, changes: SiteChanges, *, actor: str) -> Site:
    _check(changes)
    site = get_site(session, site_id)
    before = describe(site)
    _apply(site, changes)
    after = describe(site)
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    if changed:
        audit.record(
            session,
            actor=actor,
            action="site.updated",
            subject_type="site",
            subject_id=site_id,
            detail=changed,
            site_id=site_id,
        )
    return site


def _apply(site: Site, changes: SiteChanges) -> None:
    for name in FIELDS:
        value = getattr(changes, name)
        if value is not None:
            setattr(site, name, list(value) if name == "community_ids" else value)
    for name in changes.clear:
        setattr(site, name, [] if name == "community_ids" else None)


def describe(site: Site) -> dict[str, Any]:
    """A site's settings, the webhook secret shown only as set or not."""
    return {
        "id": site.id,
        "name": site.name,
        "rules_path": site.rules_path,
        "webhook_url": site.webhook_url,
        "webhook_secret": "set" if site.webhook_secret else None,
        "community_ids": list(site.community_ids or []),
        "requests_per_second": site.requests_per_second,
        "burst": site.burst,
        "retention_days": site.retention_days,
    }


def get_site(session: Session, site_id: str) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFoundError("site", site_id)
    return site


def list_sites(session: Session) -> list[Site]:
    return list(session.scalars(select(Site).order_by(Site.id)))


# --- what a site's rows need from its settings ----------------------------------------------
def site_of(session: Session) -> Site:
    """The session's site (one query per session: the identity map keeps it)."""
    return get_site(session, current_site(session))


def webhook_url(session: Session, settings: Settings) -> str | None:
    """Where the session's site's decisions go (None: nowhere)."""
    site = site_of(session)
    if site.webhook_url:
        return site.webhook_url
    return settings.webhook_url if site.id == DEFAULT_SITE else None


def webhook_secret(session: Session, site_id: str, settings: Settings) -> str | None:
    """The secret that signs ``site_id``'s deliveries (None: unsigned)."""
    site = session.get(Site, site_id)
    if site is not None and site.webhook_secret:
        return site.webhook_secret
    return settings.webhook_secret if site_id == DEFAULT_SITE else None


def rules_path(site: Site | SiteView | None, settings: Settings) -> Path:
    """A site's rules file: its own, else the deployment's."""
    if site is not None and site.rules_path:
        return Path(site.rules_path)
    return settings.rules


# --- the API's copy -------------------------------------------------------------------------
class SiteDirectory:
    """Sites and stored keys as the API sees them: a copy read from the database at most
    every ``ttl`` seconds (and, for a key not in it, at most every ``miss_refresh``)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        ttl: float = DIRECTORY_TTL_SECONDS,
        miss_refresh: float = MISS_REFRESH_SECONDS,
    ):
        self._factory = session_factory
        self._ttl = ttl
        self._miss_refresh = miss_refresh
        self._lock = threading.Lock()
        self._sites: dict[str, SiteView] = {}
        self._keys: dict[str, Principal] = {}
        self._read_at = float("-inf")

    def refresh(self) -> None:
        with all_sites_session(self._factory) as session:
            sites = {
                s.id: SiteView(
                    id=s.id,
                    name=s.name,
                    community_ids=tuple(str(c) for c in s.community_ids or []),
                    requests_per_second=s.requests_per_second,
                    burst=s.burst,
                    rules_path=s.rules_path,
                )
                for s in session.scalars(select(Site))
            }
            keys = {
                k.key_hash: Principal(
                    Role(k.role),
                    k.name,
                    k.site_id,
                    key_id=f"db:{k.id}",
                    requests_per_second=k.requests_per_second,
                    burst=k.burst,
                )
                for k in session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None)))
            }
        with self._lock:
            self._sites, self._keys, self._read_at = sites, keys, time.monotonic()

    def _fresh(self, max_age: float) -> None:
        if time.monotonic() - self._read_at > max_age:
            self.refresh()

    def _find(self, lookup: Callable[[], T | None]) -> T | None:
        """``lookup()`` in a copy at most ``ttl`` old, read again once for a miss (a site or
        key made a moment ago) unless the copy is younger than ``miss_refresh``."""
        self._fresh(self._ttl)
        found = lookup()
        if found is None and time.monotonic() - self._read_at > self._miss_refresh:
            self.refresh()
            found = lookup()
        return found

    def site(self, site_id: str) -> SiteView | None:
        return self._find(lambda: self._sites.get(site_id))

    def sites(self) -> Iterable[SiteView]:
        self._fresh(self._ttl)
        return list(self._sites.values())

    def site_of_community(self, community_id: str) -> SiteView | None:
        for site in self.sites():
            if community_id in site.community_ids:
                return site
        return None

    def stored_key(self, digest: str) -> Principal | None:
        """The stored, unrevoked key with this SHA-256 (keyring lookups end here)."""
        return self._find(lambda: self._keys.get(digest))


class Quotas:
    """Which quota a key has, and its count (``moderation.quotas``): the key's own rate and
    burst, else its site's, else ``MODERATION_RATE_LIMIT_PER_SECOND`` and ``_BURST``; no
    rate at all: no limit."""

    def __init__(self, limiter: RateLimiter, directory: SiteDirectory, settings: Settings):
        self.limiter = limiter
        self.directory = directory
        self.settings = settings

    def quota_of(self, principal: Principal) -> Quota | None:
        site = self.directory.site(principal.site) if principal.site is not None else None
        rate = principal.requests_per_second
        if rate is None and site is not None:
            rate = site.requests_per_second
        if rate is None:
            rate = self.settings.rate_limit_per_second or None
        if rate is None:
            return None
        burst = principal.burst
        if burst is None and site is not None:
            burst = site.burst
        if burst is None:
            burst = self.settings.rate_limit_burst or max(1, math.ceil(rate * 2))
        return Quota(per_second=rate, burst=burst)

    def rate_of(self, principal: Principal) -> float:
        quota = self.quota_of(principal)
        return quota.per_second if quota is not None else 0.0

    def take(self, principal: Principal) -> QuotaDecision | None:
        """Count one request of ``principal``'s key (None: the key has no quota). Raises
        Redis errors (the caller lets the request through)."""
        quota = self.quota_of(principal)
        if quota is None:
            return None
        return self.limiter.take(principal.key_id or principal.name, quota)
