"""Spam signals, their combination, and duplicate tracking against a real Redis."""

from __future__ import annotations

import pytest

from moderation.scoring.spam import DuplicateTracker, SpamScorer, normalise, signals
from tests.scoring.conftest import comment


def test_links_and_domains_are_found():
    found = signals("Read http://www.Example.com/a?b=1 and evil.xyz/win, or www.foo.org.")
    assert found["links"] == ["http://www.Example.com/a?b=1", "evil.xyz/win", "www.foo.org"]
    assert found["domains"] == ["evil.xyz", "example.com", "foo.org"]


def test_contact_details_and_promotion_patterns():
    found = signals("Earn $500 a day from home! Check out my channel, mail me: jo@spam.biz")
    assert found["emails"] == ["jo@spam.biz"]
    assert {"earn money", "check out my", "my channel"} <= set(found["patterns"])
    assert signals("Call +44 20 7946 0958 now")["phones"] == ["+44 20 7946 0958"]


def test_shouting_and_repeated_characters():
    assert signals("THIS IS AN OUTRAGE AND EVERYONE KNOWS IT")["shouting"] is True
    assert signals("NATO and the EU met in Brussels today")["shouting"] is False
    assert signals("sooooo good!!!!!!")["repeated"] == ["ooooo", "!!!!!!"]


def test_scores_separate_spam_from_an_ordinary_comment(redis_conn):
    scorer = SpamScorer(redis=redis_conn)
    ham, link, promo = scorer.score(
        [
            comment("I doubt India will sit quietly while this deal goes ahead.", ident="1"),
            comment("The full report is at https://sipri.org/arms-transfers", ident="2"),
            comment(
                "Check out my channel https://bit.ly/x and SUBSCRIBE, earn $$$ from home!",
                ident="3",
            ),
        ]
    )
    assert ham.scores["spam"] < 0.1
    assert link.scores["spam"] < 0.5  # one link to a source alone is not spam
    assert link.evidence["spam"]["domains"] == ["sipri.org"]
    assert promo.scores["spam"] > 0.95
    assert promo.evidence["spam"]["links"] == ["https://bit.ly/x"]
    assert "subscribe" in promo.evidence["spam"]["patterns"]


def test_normalise_ignores_case_accents_spacing_punctuation_and_digits():
    assert normalise("  Café   PROMO!! 2024 ") == normalise("cafe promo")


def test_same_text_from_other_authors_is_a_duplicate(redis_conn):
    scorer = SpamScorer(redis=redis_conn)
    text = "Great news for everyone, visit my profile for the real story"
    first = scorer.score([comment(text, ident="a", author="u1")])[0]
    assert "duplicate" not in first.evidence["spam"]
    second, third = scorer.score(
        [
            comment(text.upper() + "!!", ident="b", author="u2"),
            comment(text, ident="c", author="u3"),
        ]
    )
    assert third.evidence["spam"]["duplicate"] == {
        "count": 3,
        "same_author": 1,
        "authors": 3,
        "first_comment_id": "a",
    }
    assert third.scores["spam"] > first.scores["spam"] + 0.3
    # Keys expire: nothing is kept forever.
    keys = redis_conn.keys("moderation:spam:dup:*")
    assert len(keys) == 1
    assert 0 < redis_conn.ttl(keys[0]) <= 24 * 3600


def test_rescoring_a_comment_does_not_count_it_twice(redis_conn):
    scorer = SpamScorer(redis=redis_conn)
    text = "Has anyone asked what the helicopters will cost to maintain?"
    scorer.score([comment(text, ident="x", author="u1")])
    again = scorer.score([comment(text, ident="x", author="u1")])[0]
    assert "duplicate" not in again.evidence["spam"]


def test_same_author_repeating_counts(redis_conn):
    scorer = SpamScorer(redis=redis_conn)
    text = "Russia sells junk, Russia sells junk, everyone knows it"
    results = scorer.score([comment(text, ident=str(i), author="u1") for i in range(4)])
    assert results[-1].evidence["spam"]["duplicate"]["same_author"] == 4
    assert results[-1].scores["spam"] > 0.5


def test_duplicates_outside_the_window_are_forgotten(redis_conn):
    tracker = DuplicateTracker(redis_conn, window_seconds=60)
    text = "An identical comment posted twice, an hour apart"
    tracker.record([comment(text, ident="old", author="u1")], now=1_000.0)
    [dup] = tracker.record([comment(text, ident="new", author="u2")], now=1_000.0 + 3600)
    assert dup is not None and dup.count == 1 and dup.first_comment_id == "new"


def test_short_texts_are_not_tracked(redis_conn):
    scorer = SpamScorer(redis=redis_conn)
    results = scorer.score([comment("So true!", ident=str(i), author=f"u{i}") for i in range(5)])
    assert all("duplicate" not in r.evidence["spam"] for r in results)
    assert redis_conn.keys("moderation:spam:dup:*") == []


def test_without_redis_duplicates_are_not_tracked():
    scorer = SpamScorer(redis=None)
    assert scorer.score([]) == []
    [result] = scorer.score([comment("A perfectly normal remark about the deal.")])
    assert 0.0 <= result.scores["spam"] <= 1.0


@pytest.mark.parametrize(
    "text",
    ["WIN a FREE iPhone!!! click the link below", "dm me on whatsapp +1 415 555 2671 for work"],
)
def test_typical_spam_scores_high(text, redis_conn):
    assert SpamScorer(redis=redis_conn).score([comment(text)])[0].scores["spam"] > 0.7
