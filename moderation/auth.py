"""API keys, their roles and their sites.

Two places hold keys, and a request's key is looked up in both:

- ``MODERATION_API_KEYS``, for simple set-ups: ``"ROLE[@SITE][/NAME]:KEY,..."``, e.g.
  ``publisher@daily-news:KEY,moderator@daily-news/alice:KEY,operator/ops:KEY``. Without
  ``@SITE`` a key belongs to the default site (``operator`` keys belong to no site); the
  name (shown in the audit log) defaults to ``ROLE-N``. The site must exist (``moderation
  sites create``), except ``default``, which always does.
- the ``api_keys`` table, managed with ``moderation keys create|list|revoke``: a key is
  shown once, at creation, and stored as its SHA-256 only.

Roles: ``publisher`` (articles, comments, readers' reports, the Perspective API),
``moderator`` (reviews, decisions, authors), ``admin`` (everything, on its own site), and
``operator`` (everything, on every site of the group; each request names its site with
``?site=``). A key of one site never reaches another site's rows.

Keys are compared by their SHA-256 digest with ``hmac.compare_digest``; no key, whole or in
part, is ever logged or shown again.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from moderation.db.models import DEFAULT_SITE
from moderation.exceptions import ConfigurationError

SITE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
"""A site id: lower-case letters, digits and inner hyphens, at most 64 characters."""

MIN_KEY_LENGTH = 16


class Role(str, Enum):
    PUBLISHER = "publisher"
    MODERATOR = "moderator"
    ADMIN = "admin"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a role on one site (``site`` None: an operator, any site)."""

    role: Role
    name: str
    site: str | None = DEFAULT_SITE
    key_id: str = ""
    """Stable id of the key (``env:N`` or ``db:N``): quotas are counted per key."""
    requests_per_second: float | None = None
    burst: int | None = None

    def can(self, *roles: Role) -> bool:
        return self.role in (Role.ADMIN, Role.OPERATOR) or self.role in roles

    @property
    def group_wide(self) -> bool:
        return self.role is Role.OPERATOR


def key_digest(key: str) -> str:
    """The SHA-256 of a key, hex: what is stored and compared."""
    return hashlib.sha256(key.encode()).hexdigest()


def check_site_id(site_id: str, where: str) -> str:
    if not SITE_ID.match(site_id):
        raise ConfigurationError(
            f"{where} has site {site_id!r}: a site id is lower-case letters, digits and "
            "inner hyphens (e.g. daily-news), at most 64 characters"
        )
    return site_id


def new_key() -> str:
    """A fresh random key (32 bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


class KeyRing:
    """The keys of ``MODERATION_API_KEYS``, by digest, plus a lookup for the database's
    (``stored``: digest -> Principal or None, given by ``moderation.sites.SiteDirectory``)."""

    def __init__(
        self,
        entries: dict[str, Principal],
        *,
        stored: Callable[[str], Principal | None] | None = None,
    ):
        if not entries and stored is None:
            raise ConfigurationError("MODERATION_API_KEYS names no keys")
        self._entries = entries
        self._stored = stored

    def with_stored(self, stored: Callable[[str], Principal | None]) -> KeyRing:
        """This ring, also finding the keys of the database through ``stored``."""
        return KeyRing(self._entries, stored=stored)

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        entries: dict[str, Principal] = {}
        counts: dict[tuple[Role, str | None], int] = {}
        for i, raw in enumerate(p.strip() for p in spec.split(",")):
            if not raw:
                continue
            where = f"MODERATION_API_KEYS entry {i + 1}"
            head, sep, key = raw.partition(":")
            if not sep or not key:
                raise ConfigurationError(
                    f"{where} has no key: expected 'role:KEY', 'role@site:KEY' or "
                    "'role@site/name:KEY'"
                )
            head, _, name = head.partition("/")
            role_name, at, site = head.partition("@")
            try:
                role = Role(role_name.strip())
            except ValueError:
                raise ConfigurationError(
                    f"{where} has role {role_name!r}; expected one of: "
                    + ", ".join(r.value for r in Role)
                ) from None
            site_id: str | None = check_site_id(site.strip(), where) if at else DEFAULT_SITE
            if role is Role.OPERATOR:
                if at:
                    raise ConfigurationError(
                        f"{where} gives an operator key the site {site!r}: operators work on "
                        "every site (name the site per request with ?site=); for one site's "
                        "administrator use 'admin@SITE:KEY'"
                    )
                site_id = None
            if len(key) < MIN_KEY_LENGTH:
                raise ConfigurationError(
                    f"{where} ({role.value}) has a key shorter than {MIN_KEY_LENGTH} characters"
                )
            digest = key_digest(key)
            if digest in entries:
                raise ConfigurationError(f"{where} repeats a key")
            counts[role, site_id] = counts.get((role, site_id), 0) + 1
            entries[digest] = Principal(
                role,
                name.strip() or f"{role.value}-{counts[role, site_id]}",
                site_id,
                key_id=f"env:{i + 1}",
            )
        return cls(entries)

    def authenticate(self, key: str) -> Principal | None:
        return self.authenticate_digest(key_digest(key))

    def authenticate_digest(self, digest: str) -> Principal | None:
        """The key whose SHA-256 is ``digest``: the digest is compared in constant time (a
        dictionary finds the candidate; a digest of a random key leaks nothing a timing
        could use), then the database's keys are asked."""
        found = None
        for candidate, principal in self._entries.items():
            if hmac.compare_digest(candidate, digest):
                found = principal
        if found is None and self._stored is not None:
            found = self._stored(digest)
        return found

    def env_sites(self) -> set[str]:
        """The sites ``MODERATION_API_KEYS`` names (they must exist)."""
        return {p.site for p in self._entries.values() if p.site is not None}

    def keys_for(self, role: Role) -> list[Principal]:
        return [p for p in self._entries.values() if p.role is role]

    def principals(self) -> Iterable[Principal]:
        return self._entries.values()


def spec_keys(spec: str, *roles: Role, site: str = DEFAULT_SITE) -> list[str]:
    """The keys themselves of ``roles`` on ``site`` in a ``MODERATION_API_KEYS`` spec, the
    first role's first (for tools on this machine, such as ``moderation demo``)."""
    ring = KeyRing.parse(spec)  # the spec's own errors first
    found: list[tuple[int, str]] = []
    for raw in (p.strip() for p in spec.split(",")):
        key = raw.partition(":")[2]
        principal = ring.authenticate(key) if key else None
        if principal is not None and principal.role in roles and principal.site == site:
            found.append((roles.index(principal.role), key))
    return [key for _, key in sorted(found, key=lambda pair: pair[0])]


def generated_keys_path(var_dir: Path) -> Path:
    return var_dir / "api-keys"


GENERATED_ROLES = (Role.PUBLISHER, Role.MODERATOR, Role.ADMIN)
"""What ``make run`` generates: one key per role of the default site (an operator key is
made on purpose: ``moderation keys create --role operator``)."""


def load_or_generate(var_dir: Path) -> tuple[str, bool]:
    """The key spec stored under ``var_dir``, generating one key per role the first time."""
    path = generated_keys_path(var_dir)
    if path.exists():
        return path.read_text().strip(), False
    var_dir.mkdir(parents=True, exist_ok=True)
    spec = ",".join(f"{role.value}:{secrets.token_urlsafe(24)}" for role in GENERATED_ROLES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(spec + "\n")
    return spec, True
