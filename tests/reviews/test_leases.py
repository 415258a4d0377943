"""Leases: claims are a compare-and-set; an expired one is replaced by the next claim."""

from __future__ import annotations

import threading

import pytest

from moderation import reviews
from moderation.db.models import ReviewClaim
from moderation.exceptions import ClaimedError
from tests.api.test_reviews import add_comment, audits


def test_simultaneous_claims_one_wins(session_factory):
    add_comment(session_factory, "c1")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def take(name: str) -> None:
        with session_factory() as s:
            barrier.wait()
            try:
                reviews.claim(session=s, comment_id="c1", moderator=name, lease_seconds=60)
                outcomes.append("won")
            except ClaimedError:
                outcomes.append("409")

    threads = [threading.Thread(target=take, args=(f"m{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["409", "409", "409", "won"]


def test_an_expired_lease_goes_to_the_next_claimant_and_release_of_it_is_a_no_op(
    session_factory,
):
    add_comment(session_factory, "c1")
    with session_factory() as s:
        reviews.claim(session=s, comment_id="c1", moderator="ann", lease_seconds=-1)
        reviews.release(session=s, comment_id="c1", moderator="bob")  # expired: nothing held
        assert s.get(ReviewClaim, ("default", "c1")).moderator == "ann"
        row = reviews.claim(session=s, comment_id="c1", moderator="bob", lease_seconds=60)
        assert row.moderator == "bob"
        with pytest.raises(ClaimedError) as info:
            reviews.claim(session=s, comment_id="c1", moderator="ann", lease_seconds=60)
        assert info.value.holder == "bob"
    assert [a[:2] for a in audits(session_factory, "c1")][-3:] == [
        ("ann", "review.claim"),
        ("system", "review.expire"),
        ("bob", "review.claim"),
    ]
