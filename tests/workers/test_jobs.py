"""The scoring job in-process, with real scorers, real Redis and a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from sqlalchemy import select

from moderation.articles import upsert_article
from moderation.comments import NewComment, create_comment
from moderation.db import ArticleFeature, Comment, Decision, make_engine
from moderation.rulebook import Rulebook
from tests.conftest import TEST_REDIS_URL
from workers.jobs import process_comments
from workers.runtime import Runtime

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def scorers():
    from moderation.scoring import build_scorers
    from moderation.settings import Settings

    return build_scorers(Settings(_env_file=None), redis=redis_lib.Redis.from_url(TEST_REDIS_URL))


@pytest.fixture
def runtime(settings, session_factory, redis_conn, scorers):
    rulebook = Rulebook(
        settings.rules, available_scores=scorers.labels, session_factory=session_factory
    )
    rulebook.load()
    return Runtime(
        settings,
        make_engine(settings.effective_database_url),
        session_factory,
        redis_conn,
        scorers,
        rulebook,
    )


def add(session_factory, cid, text, *, author="u1", parent=None, created_at=None):
    with session_factory() as s:
        upsert_article(
            session=s,
            article_id="a1",
            title="City council approves new bus lanes on Main Street",
            body="The council voted to add bus lanes and protected bike paths on Main Street, "
            "reducing parking. Shop owners worry about deliveries; "
            "commuters welcomed faster buses.",
        )
        create_comment(
            session=s,
            new=NewComment(
                id=cid,
                article_id="a1",
                text=text,
                author_id=author,
                parent_id=parent,
                created_at=created_at,
            ),
        )
        s.commit()


def test_decides_stores_scores_and_is_safe_to_rerun(runtime, session_factory):
    add(session_factory, "c1", "Faster buses on Main Street are worth losing some parking.")
    add(session_factory, "c2", "Shut up you fucking idiot, you stupid piece of shit.")
    out = process_comments(runtime, ["c1", "c2", "missing"])
    assert sorted(out["decided"]) == ["c1", "c2"] and out["skipped"] == ["missing"]
    with session_factory() as s:
        c1, c2 = s.get(Comment, "c1"), s.get(Comment, "c2")
        assert (c1.status, c2.status) == ("approved", "rejected")
        assert {sc.name for sc in c1.scores} >= {"toxicity", "relevance", "spam"}
        assert c2.decisions[0].rules_version == runtime.rulebook.ruleset.version
        # The article's features were computed once and stored for its content version.
        feats = s.scalars(select(ArticleFeature)).all()
        assert feats and all(f.content_hash == c1.article.content_hash for f in feats)
    again = process_comments(runtime, ["c1", "c2"])  # a retry or a duplicate job
    assert again["decided"] == [] and sorted(again["skipped"]) == ["c1", "c2"]
    with session_factory() as s:
        assert len(s.scalars(select(Decision)).all()) == 2


def test_unscorable_comment_is_escalated_after_max_attempts(runtime, session_factory):
    add(session_factory, "c1", "Bus lanes!")
    with session_factory() as s:
        s.get(Comment, "c1").scoring_attempts = runtime.settings.max_scoring_attempts
        s.commit()
    process_comments(runtime, ["c1"])
    with session_factory() as s:
        c = s.get(Comment, "c1")
        assert c.status == "escalated"
        assert c.decisions[0].decided_by == "system"
        assert c.decisions[0].reasons[0]["rule"] == "system:scoring-failed"


def test_scoring_error_is_recorded_and_raised(runtime, session_factory, monkeypatch):
    add(session_factory, "c1", "Bus lanes!")

    def boom(_):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(runtime.scorers, "score", boom)
    with pytest.raises(RuntimeError):
        process_comments(runtime, ["c1"])
    with session_factory() as s:
        c = s.get(Comment, "c1")
        assert c.status == "pending" and c.scoring_attempts == 1
        assert c.last_error == "RuntimeError: model exploded"


def test_author_history_is_counted_from_earlier_comments(runtime, session_factory):
    from moderation.decisions import author_history
    from moderation.policy import HistoryQuery

    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    for i, day in enumerate([0, 1, 15]):  # only day 15 is within 30 days of day 40
        add(
            session_factory,
            f"old{i}",
            "Shut up you fucking idiot.",
            created_at=t0 + timedelta(days=day),
        )
    process_comments(runtime, ["old0", "old1", "old2"])
    add(session_factory, "new", "Bus lanes are fine.", created_at=t0 + timedelta(days=40))
    queries = [
        HistoryQuery("rejected", 30),
        HistoryQuery("rejected", None),
        HistoryQuery("total", None),
    ]
    with session_factory() as s:
        counts = author_history(
            s,
            author_id="u1",
            before=t0 + timedelta(days=40),
            exclude_comment_id="new",
            queries=queries,
        )
    assert counts == {queries[0]: 1, queries[1]: 3, queries[2]: 3}
