"""Tables. Decisions are a history: a moderator's call is a new row, never an overwrite.

Every row a publisher, a moderator or a worker writes belongs to one site (``site_id``, the
first column of every key that names a comment, an article or an author): two sites may
both send comment ``42``. Sessions see one site's rows at a time (``moderation.sites``)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from moderation.defaults import DEFAULT_SITE as DEFAULT_SITE  # the site of keyless rows


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# BigInteger autoincrement primary keys need INTEGER on SQLite to autoincrement.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class CommentStatus(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"


class DecidedBy(str, Enum):
    RULES = "rules"
    MODERATOR = "moderator"
    SYSTEM = "system"


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


SITE_ID_LENGTH = 64


class Site(Base):
    """A publication served by this deployment: its own rules, webhook, queue, moderators,
    quotas and retention. Rows of the other tables name their site in ``site_id``."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(SITE_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    rules_path: Mapped[str | None] = mapped_column(Text)
    """Its rules file; null: the deployment's (``MODERATION_RULES``)."""
    webhook_url: Mapped[str | None] = mapped_column(Text)
    """Where its decisions go; null: none, except for the default site, which falls back to
    ``MODERATION_WEBHOOK_URL``."""
    webhook_secret: Mapped[str | None] = mapped_column(Text)
    community_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """Perspective ``communityId`` values that name this site (a group-wide key's Perspective
    requests are counted to the site whose list has the request's community)."""
    requests_per_second: Mapped[float | None] = mapped_column(Float)
    """Each of its keys' sustained request rate; null: ``MODERATION_RATE_LIMIT_PER_SECOND``."""
    burst: Mapped[int | None] = mapped_column(Integer)
    """Each of its keys' burst; null: ``MODERATION_RATE_LIMIT_BURST``."""
    retention_days: Mapped[int | None] = mapped_column(Integer)
    """Comment text older than this is erased (decisions and audit kept); null: kept."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A key made with ``moderation keys create``: stored as its SHA-256 (a key is random,
    32 bytes: a plain digest is enough, and lets a request find its key in one lookup),
    shown once. ``site_id`` null: a group-wide operator key."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"))
    role: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    """The key's first characters, to tell keys apart in lists (never enough to use)."""
    requests_per_second: Mapped[float | None] = mapped_column(Float)
    burst: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]


class SiteScoped:
    """A row of one site. ``moderation.sites`` fills ``site_id`` from the session's site and
    keeps every query of a site's session to that site's rows."""

    site_id: Mapped[str] = mapped_column(
        String(SITE_ID_LENGTH), ForeignKey("sites.id"), default=DEFAULT_SITE
    )


class Article(SiteScoped, Base):
    __tablename__ = "articles"
    __table_args__ = (PrimaryKeyConstraint("site_id", "id", name="pk_articles"),)

    id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    section: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    published_at: Mapped[datetime | None]
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    features: Mapped[list[ArticleFeature]] = relationship(
        back_populates="article", cascade="all, delete-orphan"
    )


class ArticleFeature(SiteScoped, Base):
    """Per-article work a scorer does once per article version (e.g. embeddings)."""

    __tablename__ = "article_features"
    __table_args__ = (
        PrimaryKeyConstraint("site_id", "article_id", "scorer", name="pk_article_features"),
        ForeignKeyConstraint(
            ["site_id", "article_id"], ["articles.site_id", "articles.id"], ondelete="CASCADE"
        ),
    )

    article_id: Mapped[str] = mapped_column(String(200))
    scorer: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    article: Mapped[Article] = relationship(back_populates="features")


class Comment(SiteScoped, Base):
    __tablename__ = "comments"
    __table_args__ = (
        PrimaryKeyConstraint("site_id", "id", name="pk_comments"),
        ForeignKeyConstraint(["site_id", "article_id"], ["articles.site_id", "articles.id"]),
        Index("ix_comments_status_received", "status", "received_at"),
        Index("ix_comments_site_status_received", "site_id", "status", "received_at"),
        Index("ix_comments_author_created", "site_id", "author_id", "created_at"),
        Index("ix_comments_article", "site_id", "article_id"),
    )

    id: Mapped[str] = mapped_column(String(200))
    article_id: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(String(200))
    author_id: Mapped[str] = mapped_column(String(200))
    author_name: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=CommentStatus.PENDING.value)
    created_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    # Queue bookkeeping, so the sweeper can tell a comment whose job was lost.
    job_id: Mapped[str | None] = mapped_column(String(64))
    enqueued_at: Mapped[datetime | None]
    scoring_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    hidden_at: Mapped[datetime | None]
    """When readers' reports hid the published comment pending review (the publisher got
    ``comment.hidden``); set once, never cleared: a comment is hidden at most once."""
    text_erased_at: Mapped[datetime | None]
    """When its text (and the evidence quoting it) was erased: the site's retention, or the
    author's erasure (then the author id and name too). ``text`` is empty from then on."""

    article: Mapped[Article] = relationship()
    scores: Mapped[list[Score]] = relationship(
        back_populates="comment", cascade="all, delete-orphan", order_by="Score.name"
    )
    decisions: Mapped[list[Decision]] = relationship(
        back_populates="comment", cascade="all, delete-orphan", order_by="Decision.id"
    )


class Score(SiteScoped, Base):
    __tablename__ = "scores"
    __table_args__ = (
        PrimaryKeyConstraint("site_id", "comment_id", "name", name="pk_scores"),
        ForeignKeyConstraint(
            ["site_id", "comment_id"], ["comments.site_id", "comments.id"], ondelete="CASCADE"
        ),
    )

    comment_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)

    comment: Mapped[Comment] = relationship(back_populates="scores")


class Decision(SiteScoped, Base):
    __tablename__ = "decisions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "comment_id"], ["comments.site_id", "comments.id"], ondelete="CASCADE"
        ),
        Index("ix_decisions_comment", "site_id", "comment_id"),
        Index("ix_decisions_decided_at", "decided_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    comment_id: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(200))
    rule: Mapped[str | None] = mapped_column(String(200))
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    labels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    rules_version: Mapped[str | None] = mapped_column(String(64))
    reason_code: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)

    comment: Mapped[Comment] = relationship(back_populates="decisions")


class CommentReport(SiteScoped, Base):
    """A reader's report of a comment: one per reader and comment (a second one is the same
    report). ``job_id`` and ``reconsidered_at`` are the outbox of the reconsideration job:
    a report not reconsidered whose job is not live is queued again by the sweeper."""

    __tablename__ = "comment_reports"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "comment_id"], ["comments.site_id", "comments.id"], ondelete="CASCADE"
        ),
        UniqueConstraint(
            "site_id", "comment_id", "reporter_id", name="uq_comment_reports_comment_reporter"
        ),
        Index("ix_comment_reports_reconsidered_created", "reconsidered_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    comment_id: Mapped[str] = mapped_column(String(200))
    reporter_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    job_id: Mapped[str | None] = mapped_column(String(64))
    reconsidered_at: Mapped[datetime | None]


class Author(SiteScoped, Base):
    """What moderators set on an author: a row once one set a status (an author without a row
    is ``normal``). Keyed by the site and the publisher's author id, as comments name their
    author. Every change is also an ``audit_log`` row (subject ``author``)."""

    __tablename__ = "authors"
    __table_args__ = (PrimaryKeyConstraint("site_id", "id", name="pk_authors"),)

    id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="normal")
    suspended_until: Mapped[datetime | None]
    """Set with ``suspended`` only; once past, the author counts as ``normal``."""
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_reason_code: Mapped[str | None] = mapped_column(String(100))
    status_set_by: Mapped[str | None] = mapped_column(String(200))
    status_set_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuthorNote(SiteScoped, Base):
    """A moderator's note on an author, for the next moderator (never sent to the publisher)."""

    __tablename__ = "author_notes"
    __table_args__ = (
        Index("ix_author_notes_author_created", "site_id", "author_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    author_id: Mapped[str] = mapped_column(String(200))
    moderator: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RulesVersion(Base):
    """Every rules file version that was ever active, so any decision can be explained."""

    __tablename__ = "rules_versions"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    first_active_at: Mapped[datetime] = mapped_column(default=utcnow)
    sources: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Path → text of every file the version was built from (the rules file, the files it
    extends, its word lists); null for versions stored before migration 0003."""


class AuditEntry(SiteScoped, Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_subject", "site_id", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(200))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ReviewStatus(str, Enum):
    OPEN = "open"
    CLAIMED = "claimed"
    DONE = "done"


class ReviewClaim(SiteScoped, Base):
    """A moderator's lease on an escalated comment; gone when the review ends."""

    __tablename__ = "review_claims"
    __table_args__ = (
        PrimaryKeyConstraint("site_id", "comment_id", name="pk_review_claims"),
        ForeignKeyConstraint(
            ["site_id", "comment_id"], ["comments.site_id", "comments.id"], ondelete="CASCADE"
        ),
    )

    comment_id: Mapped[str] = mapped_column(String(200))
    moderator: Mapped[str] = mapped_column(String(200))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class DeliveryStatus(str, Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(SiteScoped, Base):
    """An outbox row, written in the decision's transaction; ``body`` is sent byte for byte
    on every attempt, so a receiver may see a delivery twice but never a different one."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "comment_id"], ["comments.site_id", "comments.id"], ondelete="CASCADE"
        ),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_comment", "site_id", "comment_id"),
        Index("ix_webhook_deliveries_author", "site_id", "author_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event: Mapped[str] = mapped_column(String(64))
    comment_id: Mapped[str | None] = mapped_column(String(200))
    """The comment it reports; null for an author's event (``author.updated``)."""
    author_id: Mapped[str | None] = mapped_column(String(200))
    """The author an ``author.updated`` delivery reports; null for a comment's event."""
    decision_id: Mapped[int | None] = mapped_column(BigId)
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    job_id: Mapped[str | None] = mapped_column(String(100))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)

    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="delivery", cascade="all, delete-orphan", order_by="WebhookAttempt.number"
    )


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_log")


class PerspectiveRequest(SiteScoped, Base):
    """An analyze request of the Perspective-compatible API sent with ``doNotStore`` false:
    kept apart from the moderation queue (no comment, no decision), for calibration."""

    __tablename__ = "perspective_requests"
    __table_args__ = (
        Index("ix_perspective_requests_community_received", "community_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    key_name: Mapped[str] = mapped_column(String(200))
    community_id: Mapped[str | None] = mapped_column(String(500))
    session_id: Mapped[str | None] = mapped_column(String(500))
    client_token: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    text_type: Mapped[str] = mapped_column(String(32))
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    detected_languages: Mapped[list[Any] | None] = mapped_column(JSON)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Every scorer output computed for the request (toxicity, relevance, spam...)."""
    attribute_scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Requested attribute name -> the value answered (before thresholds)."""
    rules_version: Mapped[str | None] = mapped_column(String(64))


class PerspectiveSuggestion(SiteScoped, Base):
    """One attribute score a client suggested (``comments:suggestscore``): Coral sends 0
    when a moderator approves, 1 when one rejects. Queried by community and attribute."""

    __tablename__ = "perspective_suggestions"
    __table_args__ = (
        Index("ix_perspective_suggestions_community_attribute", "community_id", "attribute", "id"),
        Index("ix_perspective_suggestions_attribute", "attribute", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    key_name: Mapped[str] = mapped_column(String(200))
    community_id: Mapped[str | None] = mapped_column(String(500))
    client_token: Mapped[str | None] = mapped_column(String(500))
    session_id: Mapped[str | None] = mapped_column(String(500))
    attribute: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    """The comment's text; null when the client sent ``doNotStore: true``."""
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
