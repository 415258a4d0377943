"""Storage: SQLAlchemy models, the session factory and Alembic migrations."""

from moderation.db.migrate import upgrade
from moderation.db.models import (
    Article,
    ArticleFeature,
    AuditEntry,
    Author,
    AuthorNote,
    Base,
    Comment,
    CommentReport,
    CommentStatus,
    DecidedBy,
    Decision,
    RulesVersion,
    Score,
    utcnow,
)
from moderation.db.session import make_engine, make_session_factory, session_scope

__all__ = [
    "Article",
    "ArticleFeature",
    "AuditEntry",
    "Author",
    "AuthorNote",
    "Base",
    "Comment",
    "CommentReport",
    "CommentStatus",
    "DecidedBy",
    "Decision",
    "RulesVersion",
    "Score",
    "make_engine",
    "make_session_factory",
    "session_scope",
    "upgrade",
    "utcnow",
]
