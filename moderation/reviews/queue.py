"""The review queue's read model: pages of escalated comments, the queue a moderator works
from, counters, and the articles in the queue.

A page costs a fixed number of queries whatever its length: one for the rows (comment,
escalation, claim, article and parent joined, ordered and paged by ``SORT_ORDERS``), one for
their scores, one for the latest decisions (done reviews only), two for their authors'
histories (counts by status, the latest few comments) and one for their readers' reports
(``reports.report_tallies``), each batched over the whole page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased, selectinload

from moderation.db.models import (
    Article,
    Comment,
    CommentStatus,
    DecidedBy,
    Decision,
    ReviewClaim,
    ReviewStatus,
    Score,
    utcnow,
)
from moderation.policy import Action, ReportReason
from moderation.reports import NO_TALLY, ReportTally, report_tallies
from moderation.reviews.leases import ESCALATED, FINAL, is_live
from moderation.reviews.ordering import (
    SORT_ORDERS,
    Sort,
    SortField,
    decode_cursor,
    encode_cursor,
)
from moderation.reviews.views import (
    Author,
    AuthorHistory,
    Lease,
    ParentComment,
    QueueCounters,
    QueuedArticle,
    RecentComment,
    Review,
    ReviewArticle,
    ReviewAuthor,
    ReviewPage,
    ReviewReports,
    decision_view,
    reasons_of,
)

RECENT_COMMENTS = 5
"""How many of the author's earlier comments a review shows."""

RECENT_TEXT_CHARS = 300
"""How much of each of those comments' text it shows."""

SEARCH_MAX_CHARS = 200
"""The longest search the queue takes (a text search is a LIKE over the escalated comments'
text: bounded, so one request cannot make it arbitrarily dear)."""


class _ReviewQuery:
    """The joins behind a review, with aliases of its own (so one can be a subquery of
    another), its filters and its sort columns."""

    def __init__(self, now: datetime):
        self.now = now
        self.comment = aliased(Comment)
        self.escalation = aliased(Decision)
        self.claim = aliased(ReviewClaim)
        self.article = aliased(Article)
        self.parent = aliased(Comment)
        toxicity = aliased(Score)
        self._toxicity = toxicity
        self._latest_escalation = (
            select(Decision.comment_id, func.max(Decision.id).label("decision_id"))
            .where(Decision.action == Action.ESCALATE.value)
            .group_by(Decision.comment_id)
            .subquery()
        )
        self.columns: dict[SortField, ColumnElement[Any]] = {
            SortField.PRIORITY: self.escalation.priority.expression,
            SortField.ESCALATED_AT: self.escalation.decided_at.expression,
            SortField.TOXICITY: func.coalesce(toxicity.value, -1.0),
            SortField.COMMENT_ID: self.comment.id.expression,
        }

    def select(self, *columns: Any) -> Select[Any]:
        c, latest = self.comment, self._latest_escalation
        return (
            select(*columns)
            .select_from(c)
            .join(latest, latest.c.comment_id == c.id)
            .join(self.escalation, self.escalation.id == latest.c.decision_id)
            .outerjoin(self.claim, self.claim.comment_id == c.id)
            .outerjoin(
                self._toxicity,
                and_(self._toxicity.comment_id == c.id, self._toxicity.name == "toxicity"),
            )
        )

    def select_reviews(self) -> Select[Any]:
        """Rows of (comment, escalation, claim, article, parent, *sort key values)."""
        sort_columns = [col.label(f"sort_{f.value}") for f, col in self.columns.items()]
        return (
            self.select(
                self.comment, self.escalation, self.claim, self.article, self.parent, *sort_columns
            )
            .outerjoin(self.article, self.article.id == self.comment.article_id)
            .outerjoin(self.parent, self.parent.id == self.comment.parent_id)
        )

    def in_status(self, status: ReviewStatus) -> ColumnElement[bool]:
        escalated = self.comment.status == ESCALATED
        live = self.claim.expires_at > self.now
        if status is ReviewStatus.OPEN:
            return and_(escalated, or_(self.claim.comment_id.is_(None), ~live))
        if status is ReviewStatus.CLAIMED:
            return and_(escalated, live)
        return self.comment.status.in_(FINAL)

    def held_by(self, moderator: str) -> ColumnElement[bool]:
        return and_(
            self.comment.status == ESCALATED,
            self.claim.expires_at > self.now,
            self.claim.moderator == moderator,
        )

    def on_article(self, article_id: str | None) -> ColumnElement[bool]:
        return self.comment.article_id == article_id if article_id is not None else true()

    def matching(self, search: str | None) -> ColumnElement[bool]:
        """A comment, author or article id given exactly (indexed), or words in the text
        (case-insensitive, ``%`` and ``_`` taken literally; a bound parameter)."""
        if not search or not search.strip():
            return true()
        term = search.strip()[:SEARCH_MAX_CHARS]
        c = self.comment
        return or_(
            c.id == term,
            c.author_id == term,
            c.article_id == term,
            c.text.icontains(term, autoescape=True),
        )

    def ordered(self, stmt: Select[Any], sort: Sort) -> Select[Any]:
        return stmt.order_by(
            *[
                self.columns[k.field].desc() if k.descending else self.columns[k.field].asc()
                for k in SORT_ORDERS[sort]
            ]
        )

    def after(self, sort: Sort, key: Sequence[Any]) -> ColumnElement[bool]:
        """Rows that sort after the one whose key values are ``key`` (keyset paging)."""
        keys = SORT_ORDERS[sort]
        ors = []
        for i, k in enumerate(keys):
            column = self.columns[k.field]
            equal = [self.columns[p.field] == v for p, v in zip(keys[:i], key[:i], strict=True)]
            beyond = column < key[i] if k.descending else column > key[i]
            ors.append(and_(*equal, beyond))
        return or_(*ors)

    def options(self, stmt: Select[Any], *, with_decisions: bool) -> Select[Any]:
        stmt = stmt.options(selectinload(self.comment.scores))
        if with_decisions:
            stmt = stmt.options(selectinload(self.comment.decisions))
        return stmt


def list_reviews(
    session: Session,
    *,
    status: ReviewStatus = ReviewStatus.OPEN,
    sort: Sort = Sort.PRIORITY,
    article_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    search: str | None = None,
    now: datetime | None = None,
) -> ReviewPage:
    """Reviews in one status, a page at a time; the cursor is a keyset, so new escalations
    never shift or repeat the pages after it. ``InvalidCursorError`` for a bad cursor."""
    now = now or utcnow()
    q = _ReviewQuery(now)
    stmt = q.select_reviews().where(
        q.in_status(status), q.on_article(article_id), q.matching(search)
    )
    if cursor:
        stmt = stmt.where(q.after(sort, decode_cursor(cursor, sort)))
    stmt = q.options(q.ordered(stmt, sort), with_decisions=status is ReviewStatus.DONE)
    rows = session.execute(stmt.limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]._mapping
        next_cursor = encode_cursor(
            sort, [last[f"sort_{k.field.value}"] for k in SORT_ORDERS[sort]]
        )
    return ReviewPage(items=_reviews(session, rows, now), next_cursor=next_cursor)


def moderator_queue(
    session: Session,
    *,
    moderator: str,
    sort: Sort = Sort.PRIORITY,
    article_id: str | None = None,
    limit: int = 100,
    search: str | None = None,
    now: datetime | None = None,
) -> list[Review]:
    """What a moderator works from: the first ``limit`` open reviews and every review the
    moderator holds, however far down the order it sorts, in one order (both narrowed by
    the article and the search, when given)."""
    now = now or utcnow()
    first_open = _ReviewQuery(now)
    open_ids = first_open.ordered(
        first_open.select(first_open.comment.id).where(
            first_open.in_status(ReviewStatus.OPEN),
            first_open.on_article(article_id),
            first_open.matching(search),
        ),
        sort,
    ).limit(limit)
    q = _ReviewQuery(now)
    stmt = q.select_reviews().where(
        q.on_article(article_id),
        q.matching(search),
        or_(q.comment.id.in_(open_ids), q.held_by(moderator)),
    )
    rows = session.execute(q.options(q.ordered(stmt, sort), with_decisions=False)).all()
    return _reviews(session, rows, now)


def _reviews(session: Session, rows: Sequence[Any], now: datetime) -> list[Review]:
    comments: list[Comment] = [row[0] for row in rows]
    histories = author_histories(session, comments)
    tallies = report_tallies(session, [c.id for c in comments])
    return [
        _review(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            histories[row[0].id],
            _reports(tallies.get(row[0].id, NO_TALLY)),
            now,
        )
        for row in rows
    ]


def _reports(tally: ReportTally) -> ReviewReports:
    return ReviewReports(
        total=tally.received.total,
        by_reason={r.value: tally.received.count(r.value) for r in ReportReason},
        unreviewed=tally.unreviewed.total,
    )


def _review(
    comment: Comment,
    escalation: Decision,
    claim_row: ReviewClaim | None,
    article: Article | None,
    parent: Comment | None,
    history: AuthorHistory,
    reports: ReviewReports,
    now: datetime,
) -> Review:
    live = claim_row if claim_row is not None and is_live(claim_row, now) else None
    if comment.status in FINAL:
        review_status = ReviewStatus.DONE.value
    elif live is not None:
        review_status = ReviewStatus.CLAIMED.value
    else:
        review_status = ReviewStatus.OPEN.value
    decision = None
    if comment.status in FINAL and comment.decisions:
        decision = decision_view(comment.decisions[-1])
    return Review(
        comment_id=comment.id,
        status=review_status,
        comment_status=comment.status,
        article=ReviewArticle(
            id=comment.article_id,
            title=article.title if article else None,
            url=article.url if article else None,
        ),
        text=comment.text,
        author=ReviewAuthor(id=comment.author_id, name=comment.author_name, history=history),
        parent=None
        if parent is None
        else ParentComment(
            id=parent.id,
            text=parent.text,
            author=Author(id=parent.author_id, name=parent.author_name),
            status=parent.status,
        ),
        created_at=comment.created_at,
        escalated_at=escalation.decided_at,
        priority=escalation.priority,
        labels=list(escalation.labels or []),
        rule=escalation.rule,
        rules_version=escalation.rules_version,
        reasons=reasons_of(escalation.reasons),
        scores={s.name: s.value for s in comment.scores},
        evidence={s.name: s.evidence for s in comment.scores if s.evidence},
        claim=None
        if live is None
        else Lease(
            moderator=live.moderator, claimed_at=live.claimed_at, expires_at=live.expires_at
        ),
        decision=decision,
        reports=reports,
    )


def author_histories(session: Session, comments: Sequence[Comment]) -> dict[str, AuthorHistory]:
    """Each comment's author's other comments (counts by status, the latest few), by
    comment id; two queries however many comments and authors."""
    if not comments:
        return {}
    authors = sorted({c.author_id for c in comments})
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for author_id, status, n in session.execute(
        select(Comment.author_id, Comment.status, func.count(Comment.id))
        .where(Comment.author_id.in_(authors))
        .group_by(Comment.author_id, Comment.status)
    ).tuples():
        counts[author_id][status] = int(n)
    # The latest RECENT_COMMENTS + 1 of each author: whichever comment is left out, the
    # latest RECENT_COMMENTS of the others are among them.
    rank = (
        func.row_number()
        .over(partition_by=Comment.author_id, order_by=(Comment.created_at.desc(), Comment.id))
        .label("rank")
    )
    ranked = (
        select(
            Comment.id,
            Comment.author_id,
            Comment.article_id,
            Comment.text,
            Comment.status,
            Comment.created_at,
            rank,
        )
        .where(Comment.author_id.in_(authors))
        .subquery()
    )
    latest: dict[str, list[Row[Any]]] = defaultdict(list)
    for row in session.execute(
        select(ranked).where(ranked.c.rank <= RECENT_COMMENTS + 1).order_by(ranked.c.rank)
    ):
        latest[row.author_id].append(row)
    out = {}
    for comment in comments:
        others = dict(counts[comment.author_id])
        others[comment.status] = others.get(comment.status, 0) - 1
        recent = [r for r in latest[comment.author_id] if r.id != comment.id][:RECENT_COMMENTS]
        out[comment.id] = AuthorHistory(
            approved=others.get(CommentStatus.APPROVED.value, 0),
            rejected=others.get(CommentStatus.REJECTED.value, 0),
            escalated=others.get(CommentStatus.ESCALATED.value, 0),
            total=sum(others.values()),
            recent=[
                RecentComment(
                    id=r.id,
                    article_id=r.article_id,
                    text=r.text[:RECENT_TEXT_CHARS],
                    status=r.status,
                    created_at=r.created_at,
                )
                for r in recent
            ],
        )
    return out


def counters(session: Session, *, now: datetime | None = None) -> QueueCounters:
    """Open and claimed reviews now, and moderator decisions since midnight UTC; one query."""
    now = now or utcnow()
    live = select(ReviewClaim.comment_id).where(ReviewClaim.expires_at > now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    escalated = select(func.count(Comment.id)).where(Comment.status == ESCALATED)
    claimed = select(func.count(Comment.id)).where(
        Comment.status == ESCALATED, Comment.id.in_(live.scalar_subquery())
    )
    decided_today = select(func.count(Decision.id)).where(
        Decision.decided_by == DecidedBy.MODERATOR.value, Decision.decided_at >= midnight
    )
    n_escalated, n_claimed, n_decided = session.execute(
        select(
            escalated.scalar_subquery(), claimed.scalar_subquery(), decided_today.scalar_subquery()
        )
    ).one()
    return QueueCounters(
        open=int(n_escalated or 0) - int(n_claimed or 0),
        claimed=int(n_claimed or 0),
        decided_today=int(n_decided or 0),
    )


def articles_in_queue(session: Session) -> list[QueuedArticle]:
    """Articles with escalated comments, most first, for the page's filter."""
    rows = session.execute(
        select(Article.id, Article.title, func.count(Comment.id))
        .join(Comment, Comment.article_id == Article.id)
        .where(Comment.status == ESCALATED)
        .group_by(Article.id, Article.title)
        .order_by(func.count(Comment.id).desc(), Article.id)
        .limit(200)
    ).tuples()
    return [QueuedArticle(id=a, title=t, escalated=int(n)) for a, t, n in rows]
