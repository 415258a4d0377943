"""Reviews: the queue of escalated comments, moderators' leases on them, and their decisions.

    queue.py                the read model: pages of reviews, a moderator's queue, counters
    ordering.py             the sort orders (one table) and the keyset cursors over them
    views.py                the typed views the read model returns
    leases.py               claim, renew, release; an expired lease is simply ignored
    moderator_decisions.py  decide an escalated comment, overturn an automatic decision
    bulk.py                 decide many escalated comments at once, each on its own
    undo.py                 undo a moderator's decision within the undo window; their recent
                            decisions

A claim is a lease (``MODERATION_REVIEW_LEASE_SECONDS``) held in ``review_claims``; taking
or renewing it is a compare-and-set, so two moderators never hold one comment. Deciding
ends the review (the claim row goes) and, through ``record_decision``, writes the
publisher's webhook in the same transaction.
"""

from moderation.exceptions import InvalidCursorError
from moderation.reviews.bulk import BulkOutcome, BulkResult, decide_many, open_reviews_of_author
from moderation.reviews.leases import claim, release
from moderation.reviews.moderator_decisions import (
    ModeratorAction,
    apply_moderator_decision,
    decide,
    overturn,
)
from moderation.reviews.ordering import (
    SORT_ORDERS,
    Sort,
    SortField,
    SortKey,
    decode_cursor,
    encode_cursor,
)
from moderation.reviews.queue import (
    RECENT_COMMENTS,
    SEARCH_MAX_CHARS,
    articles_in_queue,
    author_histories,
    counters,
    list_reviews,
    moderator_queue,
)
from moderation.reviews.undo import (
    RecentDecision,
    Undone,
    UndoRefusedError,
    recent_decisions,
    undo_decision,
    undo_latest,
)
from moderation.reviews.views import (
    Author,
    AuthorHistory,
    DecisionView,
    Lease,
    ParentComment,
    QueueCounters,
    QueuedArticle,
    Reason,
    RecentComment,
    Review,
    ReviewArticle,
    ReviewAuthor,
    ReviewPage,
    decision_view,
)

__all__ = [
    "RECENT_COMMENTS",
    "SEARCH_MAX_CHARS",
    "SORT_ORDERS",
    "Author",
    "AuthorHistory",
    "BulkOutcome",
    "BulkResult",
    "DecisionView",
    "InvalidCursorError",
    "Lease",
    "ModeratorAction",
    "ParentComment",
    "QueueCounters",
    "QueuedArticle",
    "Reason",
    "RecentComment",
    "Review",
    "ReviewArticle",
    "ReviewAuthor",
    "ReviewPage",
    "Sort",
    "SortField",
    "SortKey",
    "UndoRefusedError",
    "RecentDecision",
    "Undone",
    "apply_moderator_decision",
    "articles_in_queue",
    "author_histories",
    "claim",
    "counters",
    "decide",
    "decide_many",
    "decision_view",
    "decode_cursor",
    "encode_cursor",
    "list_reviews",
    "moderator_queue",
    "open_reviews_of_author",
    "overturn",
    "release",
    "undo_decision",
    "recent_decisions",
    "undo_latest",
]
