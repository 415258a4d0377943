"""Sort orders and keyset cursors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from moderation.exceptions import InvalidCursorError
from moderation.reviews import SORT_ORDERS, Sort, SortField, decode_cursor, encode_cursor


def test_every_sort_is_total_it_ends_with_the_comment_id():
    for sort in Sort:
        keys = SORT_ORDERS[sort]
        assert keys[-1].field is SortField.COMMENT_ID and not keys[-1].descending
    assert [(k.field.value, k.descending) for k in SORT_ORDERS[Sort.PRIORITY]] == [
        ("priority", True),
        ("escalated_at", False),
        ("comment_id", False),
    ]


def test_a_cursor_gives_back_its_typed_key():
    at = datetime(2026, 11, 1, 12, 30, tzinfo=UTC)
    assert decode_cursor(encode_cursor(Sort.PRIORITY, [3, at, "c1"]), Sort.PRIORITY) == [
        3.0,
        at,
        "c1",
    ]
    assert decode_cursor(encode_cursor(Sort.OLDEST, [at, "c1"]), Sort.OLDEST) == [at, "c1"]
    assert decode_cursor(encode_cursor(Sort.TOXICITY, [0.25, at, "c"]), Sort.TOXICITY) == [
        0.25,
        at,
        "c",
    ]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        encode_cursor(Sort.OLDEST, ["not a date", "c1"]),
        encode_cursor(Sort.OLDEST, ["2026-11-01T00:00:00+00:00"]),
    ],
)
def test_a_cursor_this_server_did_not_give_out_is_refused(cursor):
    with pytest.raises(InvalidCursorError) as info:
        decode_cursor(cursor, Sort.OLDEST)
    assert str(info.value) == "the cursor is not one this server gave out"
    assert isinstance(info.value, ValueError)


def test_a_cursor_of_another_sort_is_refused_by_name():
    cursor = encode_cursor(Sort.OLDEST, [datetime(2026, 11, 1, tzinfo=UTC), "c1"])
    with pytest.raises(InvalidCursorError) as info:
        decode_cursor(cursor, Sort.TOXICITY)
    assert str(info.value) == "the cursor belongs to sort=oldest, not sort=toxicity"
