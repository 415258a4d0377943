"""API keys and roles.

``MODERATION_API_KEYS="publisher:KEY,moderator@alice:KEY,admin:KEY"``: each entry is a role,
an optional name after ``@`` (shown in the audit log; default ``role-N``) and the key.
Publisher: articles and comments. Moderator: reviews. Admin: everything.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from moderation.exceptions import ConfigurationError


class Role(str, Enum):
    PUBLISHER = "publisher"
    MODERATOR = "moderator"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    role: Role
    name: str

    def can(self, *roles: Role) -> bool:
        return self.role is Role.ADMIN or self.role in roles


class KeyRing:
    def __init__(self, entries: dict[str, Principal]):
        if not entries:
            raise ConfigurationError("MODERATION_API_KEYS names no keys")
        self._entries = entries

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        entries: dict[str, Principal] = {}
        counts: dict[Role, int] = {}
        for i, raw in enumerate(p.strip() for p in spec.split(",")):
            if not raw:
                continue
            head, sep, key = raw.partition(":")
            if not sep or not key:
                raise ConfigurationError(
                    f"MODERATION_API_KEYS entry {i + 1} has no key: expected 'role:KEY' or "
                    "'role@name:KEY'"
                )
            role_name, _, name = head.partition("@")
            try:
                role = Role(role_name.strip())
            except ValueError:
                raise ConfigurationError(
                    f"MODERATION_API_KEYS entry {i + 1} has role {role_name!r}; expected one of: "
                    + ", ".join(r.value for r in Role)
                ) from None
            if len(key) < 16:
                raise ConfigurationError(
                    f"MODERATION_API_KEYS entry {i + 1} ({role.value}) has a key shorter than 16 "
                    "characters"
                )
            if key in entries:
                raise ConfigurationError(f"MODERATION_API_KEYS entry {i + 1} repeats a key")
            counts[role] = counts.get(role, 0) + 1
            entries[key] = Principal(role, name.strip() or f"{role.value}-{counts[role]}")
        return cls(entries)

    def authenticate(self, key: str) -> Principal | None:
        # Constant-time comparison against every key: no timing oracle on key prefixes.
        found = None
        for candidate, principal in self._entries.items():
            if hmac.compare_digest(candidate.encode(), key.encode()):
                found = principal
        return found

    def keys_for(self, role: Role) -> list[str]:
        return [k for k, p in self._entries.items() if p.role is role]


def generated_keys_path(var_dir: Path) -> Path:
    return var_dir / "api-keys"


def load_or_generate(var_dir: Path) -> tuple[str, bool]:
    """The key spec stored under ``var_dir``, generating one key per role the first time."""
    path = generated_keys_path(var_dir)
    if path.exists():
        return path.read_text().strip(), False
    var_dir.mkdir(parents=True, exist_ok=True)
    spec = ",".join(f"{role.value}:{secrets.token_urlsafe(24)}" for role in Role)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(spec + "\n")
    return spec, True
