"""Request and response bodies, by direction: ``*Create``/``*Put`` come in, ``*Public`` go out.

Limits that operators can change (comment length, batch size) are checked against
``Settings`` in the routes; fixed limits live in the field declarations.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from moderation import defaults, reasons
from moderation.policy import NO_REPORTS, Action, ReportCounts, ReportReason
from moderation.reasons import MAX_REASON_TEXT
from moderation.reviews import ModeratorAction

FIELD_COMBINATION = "field_combination"
"""The field error type of a refusal that depends on several fields together (exactly one
of two ids; ``until`` only with ``suspended``; a rejection's reason code from the list while
an approval's may be any text): no OpenAPI schema can say it, so a client reads it here."""


def _no_control_characters(value: str) -> str:
    for ch in value:
        if unicodedata.category(ch) == "Cc":
            raise ValueError(f"must not contain control characters (found {ch!r})")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


LONE_SURROGATE = "a \\ud800-\\udfff escape must be one half of a pair"


def _storable(value: str) -> str:
    # JSON's "\ud800" escape decodes to half a character, which UTF-8 cannot encode, and
    # PostgreSQL cannot store NUL: refuse both here rather than fail in the database.
    for i, ch in enumerate(value):
        if "\ud800" <= ch <= "\udfff":
            raise ValueError(
                f"must not contain a lone surrogate (found {ch!r} at character {i}): "
                + LONE_SURROGATE
            )
        if ch == "\x00":
            raise ValueError(f"must not contain the NUL character (found '\\x00' at character {i})")
    return value


# The validators' rules, written as JSON Schema patterns (ECMA-262) for generated clients.
# The validators stay: their messages name the bad character.
NO_CONTROL_CHARACTERS = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
"""Unicode category Cc: U+0000-U+001F and U+007F-U+009F."""
NOT_BLANK = (
    "[^\\u0009-\\u000d\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000]"
)
"""At least one character that ``str.strip()`` keeps (the code points ``str.isspace`` is
true for, exactly; tests/api/test_errors.py checks the list)."""
_SPACE = NOT_BLANK.replace("[^", "[", 1)
WINDOW = (
    f"^{_SPACE}*0*(?:[1-9][0-9]{{0,3}}(?:\\.[0-9]+)?|0\\.[0-9]*[1-9][0-9]*){_SPACE}*"
    f"[smhdw]{_SPACE}*$"
)
"""What ``moderation.rule_stats.parse_window`` takes: a positive number below
``WINDOW_MAX`` (10000) and a unit, spaces around either."""


def _date_time_text(value: Any) -> Any:
    # pydantic would also take a number (seconds since 1970); the schema says a string.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be a date and time as text (RFC 3339), e.g. 2024-06-13T09:30:00Z")
    return value


DateTime = Annotated[datetime, BeforeValidator(_date_time_text)]

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=defaults.DEFAULT_MAX_ID_CHARS),
    AfterValidator(_no_control_characters),
    Field(json_schema_extra={"pattern": NO_CONTROL_CHARACTERS}),
]
_NUL = "\\u0000"
NO_NUL = f"^[^{_NUL}]*$"
"""What ``_storable`` takes, as far as a pattern can say (JSON cannot carry half a pair)."""
NOT_BLANK_NO_NUL = "^[^{0}]*{1}[^{0}]*$".format(_NUL, NOT_BLANK.replace("[^", "[^" + _NUL, 1))
"""``NOT_BLANK`` and ``NO_NUL`` together: some character ``str.strip()`` keeps, no NUL."""
Text = Annotated[str, AfterValidator(_storable), Field(json_schema_extra={"pattern": NO_NUL})]
"""Any text a database can store (no lone surrogate, no NUL)."""
NonBlank = Annotated[
    str,
    AfterValidator(_storable),
    AfterValidator(_not_blank),
    Field(json_schema_extra={"pattern": NOT_BLANK_NO_NUL}),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArticlePut(Strict):
    title: Annotated[NonBlank, Field(max_length=1000)]
    body: Annotated[NonBlank, Field(max_length=1_000_000)]
    url: Annotated[Text, Field(max_length=2000)] | None = None
    section: Annotated[Text, Field(max_length=200)] | None = None
    tags: Annotated[list[Annotated[Text, Field(max_length=200)]], Field(max_length=100)] = []
    published_at: DateTime | None = None


class ArticlePublic(BaseModel):
    id: str
    title: str
    body: str
    url: str | None
    section: str | None
    tags: list[str]
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AuthorIn(Strict):
    id: Identifier
    name: Annotated[Text, Field(max_length=200)] | None = None


class CommentCreate(Strict):
    id: Identifier
    article_id: Identifier
    text: NonBlank
    author: AuthorIn
    parent_id: Identifier | None = None
    created_at: DateTime | None = None


class BatchCreate(Strict):
    comments: Annotated[list[Any], Field(min_length=1, max_length=defaults.DEFAULT_MAX_BATCH_ITEMS)]


class AuthorPublic(BaseModel):
    id: str
    name: str | None


class ReasonPublic(BaseModel):
    rule: str
    message: str


class DecisionPublic(BaseModel):
    action: Action
    decided_by: Literal["rules", "moderator", "system"]
    actor: str | None = None
    reasons: list[ReasonPublic]
    rules_version: str | None
    decided_at: datetime
    priority: int = 0
    labels: list[str] = []
    reason_code: str | None = None
    reason_text: str | None = None
    """What the commenter can be shown (rejections only): ``docs/reasons.md``."""
    note: str | None = None


class LatestDecisionPublic(DecisionPublic):
    scores: dict[str, float] = {}
    evidence: dict[str, Any] = {}
    """Evidence behind the scores the reasons rest on (spans, links, duplicates)."""


class ReportReasonCounts(BaseModel):
    abusive: int = 0
    off_topic: int = 0
    spam: int = 0
    other: int = 0


class ReportCountsPublic(BaseModel):
    """Readers' reports of a comment, one per reader."""

    total: int = Field(default=0, description="Every report received")
    by_reason: ReportReasonCounts = ReportReasonCounts()
    unreviewed: int = Field(
        default=0,
        description="Reports made since the comment's latest moderator decision (all of "
        "them when it has none): what the rules count",
    )


def report_counts_public(
    received: ReportCounts = NO_REPORTS, unreviewed: ReportCounts = NO_REPORTS
) -> ReportCountsPublic:
    return ReportCountsPublic(
        total=received.total,
        by_reason=ReportReasonCounts(**{r.value: received.count(r.value) for r in ReportReason}),
        unreviewed=unreviewed.total,
    )


class CommentPublic(BaseModel):
    id: str
    article_id: str
    parent_id: str | None
    author: AuthorPublic
    text: str
    created_at: datetime
    received_at: datetime
    status: Literal["pending", "approved", "rejected", "escalated"]
    decision: LatestDecisionPublic | None
    scores: dict[str, float]
    evidence: dict[str, Any]
    decisions: list[DecisionPublic]
    reports: ReportCountsPublic = ReportCountsPublic()
    hidden_at: datetime | None = Field(
        default=None,
        description="When readers' reports hid the published comment pending review (the "
        "publisher got comment.hidden); a comment is hidden at most once, and the "
        "moderator's decision after it says whether it is shown again",
    )


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class ErrorBody(BaseModel):
    error: str
    message: str
    fields: list[FieldError] = []


class BatchItemResult(BaseModel):
    index: int
    id: str | None
    result: Literal["accepted", "duplicate", "error"]
    status_code: int
    comment: CommentPublic | None = None
    error: ErrorBody | None = None


class BatchResult(BaseModel):
    accepted: int
    duplicates: int
    failed: int
    results: list[BatchItemResult]


def comment_public(comment: Any, reports: Any = None) -> CommentPublic:
    """The API's view of a stored comment (``moderation.db.models.Comment``), with its
    ``moderation.reports.ReportTally`` when given (none: no reports)."""
    decisions = [
        DecisionPublic(
            action=d.action,
            decided_by=d.decided_by,
            actor=d.actor,
            reasons=[ReasonPublic(**r) for r in d.reasons or []],
            rules_version=d.rules_version,
            decided_at=d.decided_at,
            priority=d.priority,
            labels=list(d.labels or []),
            reason_code=reasons.decision_reason_code(d.action, d.reason_code),
            reason_text=reasons.decision_reason_text(d.action, d.reason_code, d.reasons),
            note=d.note,
        )
        for d in comment.decisions
    ]
    scores = {s.name: s.value for s in comment.scores}
    evidence = {s.name: s.evidence for s in comment.scores if s.evidence}
    latest = None
    if decisions:
        latest = LatestDecisionPublic(
            **decisions[-1].model_dump(), scores=scores, evidence=evidence
        )
    return CommentPublic(
        id=comment.id,
        article_id=comment.article_id,
        parent_id=comment.parent_id,
        author=AuthorPublic(id=comment.author_id, name=comment.author_name),
        text=comment.text,
        created_at=comment.created_at,
        received_at=comment.received_at,
        status=comment.status,
        decision=latest,
        scores=scores,
        evidence=evidence,
        decisions=decisions,
        reports=report_counts_public()
        if reports is None
        else report_counts_public(reports.received, reports.unreviewed),
        hidden_at=comment.hidden_at,
    )


# --- readers' reports --------------------------------------------------------------------


ReportNote = Annotated[
    str,
    StringConstraints(max_length=defaults.DEFAULT_REPORT_NOTE_CHARS),
    AfterValidator(_storable),
    AfterValidator(_not_blank),
    Field(json_schema_extra={"pattern": NOT_BLANK_NO_NUL}),
]
"""``NonBlank`` with the length checked first, so that a long note is told its limit."""


class ReportCreate(Strict):
    reporter_id: Annotated[
        Identifier, Field(description="The reader's id at the publisher: one report per reader")
    ]
    reason: ReportReason
    note: ReportNote | None = None


class ReportPublic(BaseModel):
    reporter_id: str
    reason: ReportReason
    note: str | None
    created_at: datetime


ReportOutcome = Literal["counted", "reconsidering", "duplicate"]
CommentStatusName = Literal["pending", "approved", "rejected", "escalated"]


class ReportResult(BaseModel):
    """What a report did: the comment's reports now, and what happens next."""

    comment_id: str
    reports: ReportCountsPublic
    report: ReportPublic = Field(
        description="This reader's report as stored (the first one, when it is a repeat)"
    )
    outcome: ReportOutcome = Field(
        description="counted: the comment is pending (its scoring counts the report) or "
        "rejected; reconsidering: the comment is approved or escalated, and a job evaluates "
        "it again with its reports (it may go back to review, rise in the queue, or be hidden); "
        "duplicate: this reader had reported it already, nothing was counted"
    )
    comment_status: CommentStatusName
    hidden_at: datetime | None


class CommentReportsPublic(BaseModel):
    comment_id: str
    reports: ReportCountsPublic
    items: list[ReportPublic] = Field(description="The reports, oldest first")


def report_public(report: Any) -> ReportPublic:
    return ReportPublic(
        reporter_id=report.reporter_id,
        reason=report.reason,
        note=report.note,
        created_at=report.created_at,
    )


# --- reviews and webhooks ----------------------------------------------------------------


class ModeratorDecisionCreate(Strict):
    action: ModeratorAction
    reason_code: Annotated[Text, Field(max_length=100)] | None = None
    """For a rejection, one of ``GET /v1/reasons`` (default: the rules' suggestion, else
    ``other``); an approval's is kept as given."""
    reason_text: Annotated[Text, Field(max_length=MAX_REASON_TEXT)] | None = None
    """For a rejection: the commenter's text instead of the reason code's."""
    note: Annotated[Text, Field(max_length=5000)] | None = None


class BulkDecisionCreate(Strict):
    """Decide several escalated comments at once: ``comment_ids``, or every open review of
    ``author_id`` (at most ``BULK_DECISION_LIMIT`` of either)."""

    comment_ids: (
        Annotated[list[Identifier], Field(min_length=1, max_length=defaults.BULK_DECISION_LIMIT)]
        | None
    ) = None
    author_id: Identifier | None = None
    action: ModeratorAction
    reason_code: Annotated[Text, Field(max_length=100)] | None = None
    reason_text: Annotated[Text, Field(max_length=MAX_REASON_TEXT)] | None = None
    note: Annotated[Text, Field(max_length=5000)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> BulkDecisionCreate:
        if (self.comment_ids is None) == (self.author_id is None):
            raise PydanticCustomError(
                FIELD_COMBINATION, "give comment_ids or author_id (one of them)"
            )
        return self


class BulkDecisionResultPublic(BaseModel):
    comment_id: str
    outcome: Literal["decided", "conflict", "not_found"]
    decision: ModeratorDecisionPublic | None = None
    message: str | None = None


class BulkDecisionPublic(BaseModel):
    bulk_id: str
    """In each comment's ``review.decide`` audit row (``detail.bulk``)."""
    decided: int
    results: list[BulkDecisionResultPublic]
    undo_seconds: float
    """Each decision may be undone this long after it was made (its webhook waits)."""


class UndoPublic(BaseModel):
    comment_id: str
    undone_decision_id: int
    status: str
    """The comment's status again (``escalated``: back in the review queue)."""


class ClaimPublic(BaseModel):
    comment_id: str
    moderator: str
    claimed_at: datetime
    expires_at: datetime


class ModeratorDecisionPublic(BaseModel):
    id: int
    comment_id: str
    action: Action
    decided_by: Literal["rules", "moderator", "system"]
    actor: str | None
    reasons: list[ReasonPublic]
    rules_version: str | None
    reason_code: str | None
    reason_text: str | None = None
    note: str | None
    decided_at: datetime


# The review models are validated from the read model's views
# (``moderation.reviews.views``) with ``model_validate(view, from_attributes=True)``.


class RecentCommentPublic(BaseModel):
    id: str
    article_id: str
    text: str = Field(description="The first 300 characters")
    status: Literal["pending", "approved", "rejected", "escalated"]
    created_at: datetime


class ReviewAuthorHistory(BaseModel):
    """The author's other comments."""

    approved: int
    rejected: int
    escalated: int
    total: int
    recent: list[RecentCommentPublic]


class ReviewAuthor(BaseModel):
    id: str
    name: str | None
    history: ReviewAuthorHistory


class ReviewArticlePublic(BaseModel):
    id: str
    title: str | None
    url: str | None


class ReviewParentPublic(BaseModel):
    """The comment a reviewed comment replies to."""

    id: str
    text: str
    author: AuthorPublic
    status: Literal["pending", "approved", "rejected", "escalated"]


class LeasePublic(BaseModel):
    """A moderator's live claim on a review."""

    moderator: str
    claimed_at: datetime
    expires_at: datetime


class ReviewPublic(BaseModel):
    comment_id: str
    status: Literal["open", "claimed", "done"]
    comment_status: str
    article: ReviewArticlePublic
    text: str
    author: ReviewAuthor
    parent: ReviewParentPublic | None
    created_at: datetime
    escalated_at: datetime
    priority: int
    labels: list[str]
    rule: str | None
    rules_version: str | None
    reasons: list[ReasonPublic]
    scores: dict[str, float]
    evidence: dict[str, Any]
    claim: LeasePublic | None
    decision: ModeratorDecisionPublic | None
    reports: ReportCountsPublic
    """Readers' reports of the comment (received, by reason, and since its latest
    moderator decision)."""


class ReviewCounters(BaseModel):
    open: int
    claimed: int
    decided_today: int


class ReviewPage(BaseModel):
    items: list[ReviewPublic]
    next_cursor: str | None
    counters: ReviewCounters


class QueuedArticlePublic(BaseModel):
    id: str
    title: str
    escalated: int = Field(description="Escalated comments on the article")


class ModeratorQueuePublic(BaseModel):
    """What the /moderate page polls: the open reviews and the ones the moderator holds."""

    moderator: str
    items: list[ReviewPublic]
    counters: ReviewCounters
    articles: list[QueuedArticlePublic]


class WebhookAttemptPublic(BaseModel):
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class WebhookDeliveryPublic(BaseModel):
    id: str
    event: str
    comment_id: str | None
    """Null for an author's event (``author.updated``)."""
    author_id: str | None = None
    """The author of an ``author.updated`` delivery."""
    decision_id: int | None
    url: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    body: str
    """The exact JSON sent on every attempt."""
    attempt_log: list[WebhookAttemptPublic]


def delivery_public(delivery: Any) -> WebhookDeliveryPublic:
    return WebhookDeliveryPublic(
        id=delivery.id,
        event=delivery.event,
        comment_id=delivery.comment_id,
        author_id=delivery.author_id,
        decision_id=delivery.decision_id,
        url=delivery.url,
        status=delivery.status,
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
        body=delivery.body.decode(),
        attempt_log=[
            WebhookAttemptPublic(
                number=a.number,
                at=a.at,
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
            )
            for a in delivery.attempt_log
        ],
    )


# --- rules ------------------------------------------------------------------------------


class RulesPublic(BaseModel):
    version: str = Field(description="SHA-256 of the file, its word lists and what it extends")
    source: str = Field(description="The rules file")
    loaded_at: datetime | None = Field(description="When this version became active here")
    rule_ids: list[str] = Field(description="Rule ids, in evaluation order")
    files: list[str] = Field(description="Every file the rules were built from (watched)")
    refused_reload: list[str] = Field(
        description="Errors of the last refused reload (file:line:col: message); empty when "
        "the file on disk is the active version"
    )


class RulesReloadPublic(BaseModel):
    changed: bool
    version: str
    previous_version: str | None


class RulesRefusedBody(ErrorBody):
    errors: list[str] = Field(description="Every problem, as file:line:col: message")
    active_version: str | None = Field(description="The version that keeps deciding")


class RulesVersionPublic(BaseModel):
    hash: str
    source: str
    content: str
    first_active_at: datetime
    sources: dict[str, str] | None = Field(
        default=None,
        description="Every file the version was built from (the rules file, files it extends, "
        "word lists), path → text as read; null for versions stored before this was kept",
    )


class RuleCountsPublic(BaseModel):
    rule: str = Field(description="Rule id; 'default' for the file's default")
    decided: dict[str, int] = Field(description="Decisions this rule made, by action")
    decided_total: int
    matched: dict[str, int] = Field(
        description="Decisions whose reasons include this rule, by the decision's action"
    )
    matched_total: int


class RuleStatsPublic(BaseModel):
    since: datetime
    until: datetime
    decisions: int = Field(description="Automatic decisions in the window")
    actions: dict[str, int]
    rules: list[RuleCountsPublic]


# --- authors -------------------------------------------------------------------------------

AuthorStatusName = Literal["trusted", "normal", "premoderated", "suspended", "banned"]
"""``moderation.policy.context.AuthorStatus``'s values."""


class AuthorStatusPut(Strict):
    status: AuthorStatusName
    until: DateTime | None = None
    """Required with ``suspended`` (in the future), refused with any other status."""
    reason: Annotated[Text, Field(max_length=2000)] | None = None
    """Why, for moderators and the publisher (``author.updated``); the rejected comments'
    note."""
    reason_code: Annotated[Text, Field(max_length=100)] | None = None
    """One of ``GET /v1/reasons``: the code of the status and of the comments it rejects
    (default ``other``)."""
    reject_pending: bool = False
    """With ``banned`` or ``suspended``: reject every pending or escalated comment of the
    author in the same step, each as a moderator's decision."""


class AuthorNoteCreate(Strict):
    text: Annotated[NonBlank, Field(max_length=5000)]


class AuthorNotePublic(BaseModel):
    id: int
    author_id: str
    moderator: str
    text: str
    created_at: datetime


class AuthorStatusSetPublic(BaseModel):
    """The status a moderator last set (stored), with who, when and why."""

    status: AuthorStatusName
    until: datetime | None
    reason: str | None
    reason_code: str | None
    set_by: str | None
    set_at: datetime | None


class AuthorStatusChangePublic(BaseModel):
    at: datetime
    moderator: str
    from_status: str | None
    to_status: str | None
    until: str | None = None
    reason: str | None = None
    reason_code: str | None = None
    rejected: list[str] = []


class AuthorCommentPublic(BaseModel):
    id: str
    article_id: str
    article_title: str
    parent_id: str | None
    text: str
    status: CommentStatusName
    created_at: datetime
    received_at: datetime
    hidden_at: datetime | None
    decision: DecisionPublic | None
    """The latest decision; null while pending."""


class AuthorCountsPublic(BaseModel):
    total: int
    pending: int
    approved: int
    rejected: int
    escalated: int


class AuthorDetailPublic(BaseModel):
    id: str
    status: AuthorStatusName
    """In effect now: ``normal`` once a suspension has run out."""
    suspended_until: datetime | None
    """While suspended."""
    status_set: AuthorStatusSetPublic | None
    """What a moderator last set; null when none ever did."""
    counts: AuthorCountsPublic
    comments: list[AuthorCommentPublic]
    """The latest comments, newest first, each with its latest decision."""
    notes: list[AuthorNotePublic]
    """Newest first."""
    status_changes: list[AuthorStatusChangePublic]
    """Newest first (from the audit log)."""


class AuthorStatusResult(BaseModel):
    author_id: str
    status: AuthorStatusName
    previous_status: AuthorStatusName
    suspended_until: datetime | None
    changed: bool
    """False when the author had this status already: nothing recorded, nothing sent."""
    rejected: list[str]
    """The comments rejected with the change (``reject_pending``), oldest first."""


def author_note_public(note: Any) -> AuthorNotePublic:
    return AuthorNotePublic(
        id=note.id,
        author_id=note.author_id,
        moderator=note.moderator,
        text=note.text,
        created_at=note.created_at,
    )


def author_decision_public(d: Any) -> DecisionPublic:
    return DecisionPublic(
        action=d.action,
        decided_by=d.decided_by,
        actor=d.actor,
        reasons=[ReasonPublic(rule=r["rule"], message=r["message"]) for r in d.reasons or []],
        rules_version=d.rules_version,
        decided_at=d.decided_at,
        priority=d.priority,
        labels=list(d.labels or []),
        reason_code=reasons.decision_reason_code(d.action, d.reason_code),
        reason_text=reasons.decision_reason_text(d.action, d.reason_code, d.reasons),
        note=d.note,
    )


def author_detail_public(view: Any) -> AuthorDetailPublic:
    author = view.author
    return AuthorDetailPublic(
        id=view.author_id,
        status=view.status,
        suspended_until=author.suspended_until if view.status == "suspended" else None,
        status_set=AuthorStatusSetPublic(
            status=author.status,
            until=author.suspended_until,
            reason=author.status_reason,
            reason_code=author.status_reason_code,
            set_by=author.status_set_by,
            set_at=author.status_set_at,
        )
        if author is not None and author.status_set_at is not None
        else None,
        counts=AuthorCountsPublic(**view.counts),
        comments=[
            AuthorCommentPublic(
                id=c.comment.id,
                article_id=c.comment.article_id,
                article_title=c.article_title,
                parent_id=c.comment.parent_id,
                text=c.comment.text,
                status=c.comment.status,
                created_at=c.comment.created_at,
                received_at=c.comment.received_at,
                hidden_at=c.comment.hidden_at,
                decision=author_decision_public(c.decision) if c.decision is not None else None,
            )
            for c in view.comments
        ],
        notes=[author_note_public(n) for n in view.notes],
        status_changes=[
            AuthorStatusChangePublic(
                at=e.at,
                moderator=e.actor,
                from_status=e.from_state,
                to_status=e.to_state,
                until=(e.detail or {}).get("until"),
                reason=(e.detail or {}).get("reason"),
                reason_code=(e.detail or {}).get("reason_code"),
                rejected=list((e.detail or {}).get("rejected") or []),
            )
            for e in view.status_changes
        ],
    )


# --- the audit log -------------------------------------------------------------------------


class AuditEntryPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    """Who: a moderator's name, ``rules``, ``publisher``, ``system``..."""
    action: str
    """What: ``review.claim``, ``review.decide``, ``author.status``, ``comment.reported``..."""
    subject_type: str
    subject_id: str
    from_state: str | None
    to_state: str | None
    detail: dict[str, Any] | None


class AuditPagePublic(BaseModel):
    items: list[AuditEntryPublic]
    """Newest first."""
    next_cursor: str | None


# --- a moderator's recent decisions (the /moderate page) -------------------------------------


class RecentDecisionPublic(BaseModel):
    decision_id: int
    comment_id: str
    action: str
    reason_code: str | None
    decided_at: datetime
    text: str
    """The comment's first 200 characters."""
    article_id: str
    article_title: str | None
    article_url: str | None
    undoable: bool


class RecentDecisionsPublic(BaseModel):
    items: list[RecentDecisionPublic]
    """Newest first."""
    undo_seconds: float
