"""What a rules file is evaluated against: one comment's scores and facts.

Callers build an ``EvaluationContext``; ``Facts`` is what conditions read from it during
one evaluation, each derived fact (normalised text, links) computed at most once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from moderation.policy.normaliser import canonicalise, find_urls, normalise_text, url_domains
from moderation.textfeatures import whole_characters

__all__ = [
    "HISTORY_KINDS",
    "NO_REPORTS",
    "ArticleFacts",
    "AuthorStatus",
    "EvaluationContext",
    "Facts",
    "HistoryQuery",
    "ReportCounts",
    "ReportReason",
]

HISTORY_KINDS = ("total", "approved", "rejected", "escalated")
_HISTORY_KEY = re.compile(r"(total|approved|rejected|escalated)(?:_([1-9][0-9]*)d)?")


@dataclass(frozen=True)
class HistoryQuery:
    """A count of the author's earlier comments: of one kind, within ``days`` (None = ever)."""

    kind: str
    days: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in HISTORY_KINDS:
            raise ValueError(f"history kind {self.kind!r} is not one of {', '.join(HISTORY_KINDS)}")
        if self.days is not None and self.days <= 0:
            raise ValueError(f"history days must be a positive number, got {self.days}")

    @property
    def key(self) -> str:
        """``rejected_30d`` / ``total``: how inline tests and messages name this count."""
        return self.kind if self.days is None else f"{self.kind}_{self.days}d"

    @classmethod
    def parse(cls, key: str) -> HistoryQuery:
        m = _HISTORY_KEY.fullmatch(key)
        if not m:
            raise ValueError(
                f"{key!r} is not a history count; write KIND or KIND_Nd with KIND one of "
                f"{', '.join(HISTORY_KINDS)} (e.g. rejected_30d)"
            )
        return cls(m.group(1), int(m.group(2)) if m.group(2) else None)


class ReportReason(str, Enum):  # noqa: UP042 - the values readers' reports carry
    """Why a reader reported a comment (``POST /v1/comments/{id}/reports``)."""

    ABUSIVE = "abusive"
    OFF_TOPIC = "off_topic"
    SPAM = "spam"
    OTHER = "other"


REPORT_TOTAL = "total"
"""How messages and inline tests name the count of every reason together."""


@dataclass(frozen=True)
class ReportCounts:
    """Readers' reports of one comment, by reason (one per reader; a reason not given is 0).

    The caller counts them (``moderation.reports``); the service passes the reports received
    since the comment's latest moderator decision, so a moderator's call is reopened only by
    reports made after it."""

    by_reason: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for reason, n in self.by_reason.items():
            ReportReason(reason)  # ValueError for a reason that does not exist
            if n < 0:
                raise ValueError(f"report count of {reason!r} is negative: {n}")

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def count(self, reason: str | None = None) -> int:
        """Reports of ``reason`` (``None`` or ``total``: of every reason)."""
        if reason is None or reason == REPORT_TOTAL:
            return self.total
        return int(self.by_reason.get(reason, 0))

    def summary(self) -> str:
        """``2 abusive, 1 spam``: the reasons reported, in ``ReportReason`` order."""
        parts = [f"{self.count(r.value)} {r.value}" for r in ReportReason if self.count(r.value)]
        return ", ".join(parts) or "none"


NO_REPORTS = ReportCounts()


class AuthorStatus(str, Enum):  # noqa: UP042 - the values moderators set on an author
    """What moderators set on an author (``PUT /v1/authors/{id}/status``); ``normal`` for
    an author nobody set. The caller passes the status in effect when the comment is
    decided: a suspension whose ``until`` has passed is ``normal`` again."""

    TRUSTED = "trusted"
    NORMAL = "normal"
    PREMODERATED = "premoderated"
    SUSPENDED = "suspended"
    BANNED = "banned"


@dataclass(frozen=True)
class ArticleFacts:
    id: str
    section: str | None = None
    tags: tuple[str, ...] = ()
    published_at: datetime | None = None


@dataclass(frozen=True)
class EvaluationContext:
    scores: Mapping[str, float]
    text: str
    author_id: str
    article: ArticleFacts
    is_reply: bool
    created_at: datetime
    history: Mapping[HistoryQuery, int] = field(default_factory=dict)
    """Counts of the author's earlier comments, one per ``RuleSet.history_queries``."""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    reports: ReportCounts = NO_REPORTS
    """Readers' reports of the comment (``RuleSet.needs_reports`` says whether the rules read
    them). None is a true default here, unlike history: a comment nobody has reported, a
    Perspective request, a comment replayed offline."""
    author_status: str = AuthorStatus.NORMAL.value
    """The author's status in effect (``AuthorStatus``'s values), looked up by the caller
    (``moderation.authors``); ``normal`` for an author no moderator set, a Perspective
    request, an evaluation without authors."""

    def __post_init__(self) -> None:
        AuthorStatus(self.author_status)  # ValueError for a status that does not exist


class Facts:
    """What conditions ask about one comment, computed at most once per evaluation.

    ``matched`` collects what text conditions found (list entries, regex text), for the
    ``{matched}`` field of the rule's message.
    """

    def __init__(self, ctx: EvaluationContext):
        self.ctx = ctx
        self.matched: list[str] = []
        self._text: str | None = None
        self._canonical: str | None = None
        self._normalised: str | None = None
        self._urls: list[str] | None = None
        self._domains: list[str] | None = None

    @property
    def text(self) -> str:
        """The text as written, lone surrogates made U+FFFD (what ``regex`` searches)."""
        if self._text is None:
            self._text = whole_characters(self.ctx.text)
        return self._text

    @property
    def canonical(self) -> str:
        if self._canonical is None:
            self._canonical = canonicalise(self.ctx.text)
        return self._canonical

    @property
    def normalised(self) -> str:
        if self._normalised is None:
            self._normalised = normalise_text(self.ctx.text)
        return self._normalised

    @property
    def urls(self) -> list[str]:
        if self._urls is None:
            self._urls = find_urls(self.ctx.text)
        return self._urls

    @property
    def domains(self) -> list[str]:
        if self._domains is None:
            self._domains = url_domains(self.urls)
        return self._domains

    def history(self, query: HistoryQuery) -> int:
        try:
            return self.ctx.history[query]
        except KeyError:
            raise ValueError(
                f"the rules need the author's history count {query} but the caller did not "
                "pass it; count every query in RuleSet.history_queries"
            ) from None
