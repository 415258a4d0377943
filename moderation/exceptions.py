"""Every error this package raises on purpose.

    ModerationError
    ├── ConfigurationError          a setting or file the operator gave cannot be used
    │   ├── RulesError              a rules file is invalid (``.errors``: file:line:col lines)
    │   ├── ModelUnavailableError   model weights cannot be loaded (says which settings to use)
    │   └── LabelsError             a labelled data file cannot be used (message: file:line: ...)
    ├── NotFoundError               an article, comment, review or delivery does not exist
    │   └── UnknownReferenceError   a comment names an article or parent that does not exist
    ├── ConflictError               the request contradicts what is stored (same id, other text)
    │   ├── ClaimedError            another moderator holds the review (``.holder``, expiry)
    │   └── AlreadyDecidedError     the comment has been decided already (``.decision``)
    ├── InvalidCursorError          a page cursor this server did not give out (a ValueError)
    ├── QueueUnavailableError       Redis cannot be reached (translated from redis errors)
    └── DatabaseUnavailableError    the database is busy (``.busy``) or cannot be reached

Library errors (redis, SQLAlchemy, torch) are translated at the boundary with
``raise ... from exc``.
"""

from __future__ import annotations


class ModerationError(Exception):
    """Base class."""


class ConfigurationError(ModerationError):
    pass


class RulesError(ConfigurationError):
    """A rules file is invalid. ``errors`` lists every problem as ``file:line:column: message``."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class ModelUnavailableError(ConfigurationError):
    pass


class LabelsError(ConfigurationError):
    """A labelled CSV/TSV/JSON-lines file cannot be read or lacks what is asked of it; the
    message starts with the file and, where one line is at fault, its number."""


class NotFoundError(ModerationError):
    def __init__(self, kind: str, ident: str):
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident!r} does not exist")


class UnknownReferenceError(NotFoundError):
    """A comment names an article or parent that does not exist (``field`` says which)."""

    def __init__(self, kind: str, ident: str, field: str):
        super().__init__(kind, ident)
        self.field = field


class ConflictError(ModerationError):
    def __init__(self, message: str, *, current: object | None = None):
        self.current = current
        super().__init__(message)


class ClaimedError(ConflictError):
    def __init__(self, message: str, *, holder: str, expires_at: object):
        self.holder = holder
        self.expires_at = expires_at
        super().__init__(message)


class AlreadyDecidedError(ConflictError):
    def __init__(self, message: str, *, decision: object | None):
        self.decision = decision
        super().__init__(message, current=decision)


class InvalidCursorError(ModerationError, ValueError):
    pass


class QueueUnavailableError(ModerationError):
    pass


class DatabaseUnavailableError(ModerationError):
    """The database is busy (a lock held too long, no free connection: ``busy`` is true) or
    cannot be reached; retrying later may succeed. The message says what the driver said,
    without the statement or its parameters."""

    def __init__(self, message: str, *, busy: bool):
        self.busy = busy
        super().__init__(message)
