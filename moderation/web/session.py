"""Sessions and CSRF tokens for the /moderate page.

The cookie holds the moderator's name, role, site, the SHA-256 of the key they signed in
with and a random session id, signed with HMAC-SHA256. Each request finds the key again by
that digest, so removing a key from ``MODERATION_API_KEYS`` (or revoking a stored one)
signs its sessions out, and checks that the session still exists server-side
(``SessionStore``, in Redis, keyed by a hash of the id): signing out deletes it there, so a
copied cookie stops working at once instead of living out its twelve hours. Signing in
always makes a new id and deletes the session the browser came with, so an id planted before
sign-in never becomes one.
CSRF tokens are HMACs of the session id (before sign-in: of a pre-session cookie).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis as redis_lib

from moderation.auth import KeyRing, Principal, Role, key_digest

SESSION_COOKIE = "moderate_session"
PRE_SESSION_COOKIE = "moderate_presession"
SESSION_MAX_AGE = 12 * 3600
"""A working day; the moderator signs in again after it."""
SESSION_KEY_PREFIX = "moderation:web:session:"


class SessionStoreUnavailable(Exception):
    """Redis, which holds the sessions, did not answer."""


class SessionStore:
    """The sessions that exist: one Redis key per session id (its SHA-256, so that reading
    Redis gives no usable cookie), expiring with the cookie."""

    def __init__(self, conn: redis_lib.Redis, *, prefix: str = SESSION_KEY_PREFIX):
        self.conn = conn
        self.prefix = prefix

    def key(self, session_id: str) -> str:
        return self.prefix + hashlib.sha256(session_id.encode()).hexdigest()

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.conn, method)(*args, **kwargs)
        except redis_lib.RedisError as exc:
            raise SessionStoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def create(self, principal: Principal) -> str:
        session_id = secrets.token_urlsafe(32)
        self._call("set", self.key(session_id), principal.name, ex=SESSION_MAX_AGE)
        return session_id

    def exists(self, session_id: str) -> bool:
        return bool(self._call("exists", self.key(session_id)))

    def revoke(self, session_id: str) -> None:
        self._call("delete", self.key(session_id))


def load_or_generate_secret(var_dir: Path) -> str:
    """The session secret stored under ``var_dir``, generated the first time (mode 0600)."""
    path = var_dir / "session-secret"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    return secret


@dataclass(frozen=True)
class WebSession:
    principal: Principal
    nonce: str
    expires: int
    site: str
    """The site whose queue this session moderates: the key's, or the one an operator chose
    when signing in."""


class SessionSigner:
    def __init__(self, secret: str):
        self._secret = secret.encode()

    def _mac(self, purpose: str, data: str) -> str:
        return hmac.new(self._secret, f"{purpose}:{data}".encode(), hashlib.sha256).hexdigest()

    def issue(self, principal: Principal, key: str, session_id: str, site: str) -> str:
        payload = {
            "n": principal.name,
            "r": principal.role.value,
            "s": site,
            "k": key_digest(key),
            "c": session_id,
            "e": int(time.time()) + SESSION_MAX_AGE,
        }
        raw = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
        return f"{raw}.{self._mac('session', raw)}"

    def read(
        self, cookie: str | None, keyring: KeyRing, store: SessionStore | None = None
    ) -> WebSession | None:
        """The session a cookie stands for: signed by us, for a key that still exists,
        and (given a ``store``) not signed out."""
        if not cookie or "." not in cookie:
            return None
        raw, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac, self._mac("session", raw)):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            name, role, digest = str(payload["n"]), Role(payload["r"]), str(payload["k"])
            site, nonce, expires = str(payload["s"]), str(payload["c"]), int(payload["e"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires < time.time():
            return None
        # The key must still exist and still belong to this moderator, on this site.
        principal = keyring.authenticate_digest(digest)
        if principal is None or principal.name != name or principal.role is not role:
            return None
        if principal.site is not None and principal.site != site:
            return None
        if store is not None and not store.exists(nonce):
            return None  # signed out, or replaced by a later sign-in
        return WebSession(principal, nonce, expires, site)

    def csrf_token(self, nonce: str) -> str:
        return self._mac("csrf", nonce)

    def check_csrf(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(self.csrf_token(nonce), token)
