"""Sort orders of the review queue, and the keyset cursors that page through them.

``SORT_ORDERS`` is the one definition: each sort is a list of keys (a field of the queue's
query and its direction). The query orders and pages by it, and a cursor is the last row's
values of those keys, checked and typed against it when it comes back.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from moderation.exceptions import InvalidCursorError


class Sort(str, Enum):  # noqa: UP042 - a query parameter, like the other string enums here
    PRIORITY = "priority"
    OLDEST = "oldest"
    TOXICITY = "toxicity"


class SortField(str, Enum):  # noqa: UP042
    """A column of the queue's query that a sort can order by."""

    PRIORITY = "priority"
    ESCALATED_AT = "escalated_at"
    TOXICITY = "toxicity"
    """The toxicity score, -1 when the comment has none."""
    COMMENT_ID = "comment_id"


@dataclass(frozen=True)
class SortKey:
    field: SortField
    descending: bool = False


SORT_ORDERS: dict[Sort, tuple[SortKey, ...]] = {
    Sort.PRIORITY: (
        SortKey(SortField.PRIORITY, descending=True),
        SortKey(SortField.ESCALATED_AT),
        SortKey(SortField.COMMENT_ID),
    ),
    Sort.OLDEST: (SortKey(SortField.ESCALATED_AT), SortKey(SortField.COMMENT_ID)),
    Sort.TOXICITY: (
        SortKey(SortField.TOXICITY, descending=True),
        SortKey(SortField.ESCALATED_AT),
        SortKey(SortField.COMMENT_ID),
    ),
}
"""Every sort ends with the comment id, so the order is total and a keyset cursor exact."""

_DECODE: dict[SortField, Callable[[Any], Any]] = {
    SortField.PRIORITY: float,
    SortField.ESCALATED_AT: datetime.fromisoformat,
    SortField.TOXICITY: float,
    SortField.COMMENT_ID: str,
}


def encode_cursor(sort: Sort, key: Sequence[Any]) -> str:
    """The cursor after a row whose values of ``SORT_ORDERS[sort]`` are ``key``."""
    values = [
        v.isoformat() if isinstance(v, datetime) else float(v) if isinstance(v, Decimal) else v
        for v in key
    ]
    raw = json.dumps({"s": sort.value, "k": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sort) -> list[Any]:
    """The key values a cursor holds, typed; ``InvalidCursorError`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        values = list(data["k"])
        cursor_sort = data["s"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidCursorError("the cursor is not one this server gave out") from None
    if cursor_sort != sort.value:
        raise InvalidCursorError(f"the cursor belongs to sort={cursor_sort}, not sort={sort.value}")
    keys = SORT_ORDERS[sort]
    if len(values) != len(keys):
        raise InvalidCursorError("the cursor is not one this server gave out")
    try:
        return [_DECODE[k.field](v) for k, v in zip(keys, values, strict=True)]
    except (TypeError, ValueError):
        raise InvalidCursorError("the cursor is not one this server gave out") from None
