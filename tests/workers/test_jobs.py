"""The scoring job in-process, with real scorers, real Redis and a real database."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from sqlalchemy import select

from moderation import sites
from moderation.articles import upsert_article
from moderation.comments import NewComment, create_comment
from moderation.db import (
    ArticleFeature,
    Comment,
    Decision,
    Score,
    all_sites_session,
    make_engine,
    site_session,
)
from moderation.db.models import RulesVersion, WebhookDelivery
from moderation.queue import EXPLAIN_JOB, explain_queue
from moderation.rulebook import Rulebooks
from moderation.webhooks import webhook_queue
from tests.conftest import TEST_REDIS_URL
from workers.jobs import explain_stored, process_comments
from workers.runtime import Runtime

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def scorers():
    from moderation.scoring import build_scorers
    from moderation.settings import Settings

    return build_scorers(Settings(_env_file=None), redis=redis_lib.Redis.from_url(TEST_REDIS_URL))


@pytest.fixture
def runtime(settings, session_factory, redis_conn, scorers):
    rulebooks = Rulebooks(
        settings.rules, available_scores=scorers.labels, session_factory=session_factory
    )
    rulebooks.default.load()
    return Runtime(
        settings,
        make_engine(settings.effective_database_url),
        session_factory,
        redis_conn,
        scorers,
        rulebooks,
    )


def add(session_factory, cid, text, *, author="u1", parent=None, created_at=None, site=None):
    with site_session(session_factory, site) if site else session_factory() as s:
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
        c1, c2 = s.get(Comment, ("default", "c1")), s.get(Comment, ("default", "c2"))
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


def test_a_sites_own_rules_load_and_are_stored_while_its_first_job_runs(
    runtime, session_factory, tmp_path
):
    """The first job of a site with its own rules file loads that file and stores its version
    from a session of its own; on SQLite that waited on the job's own write transaction until
    the busy timeout ("database is locked") and the job failed."""
    shutil.copytree(runtime.settings.rules.parent / "words", tmp_path / "words")
    own = tmp_path / "evening-post.yaml"
    own.write_text(runtime.settings.rules.read_text() + "# the Evening Post's copy\n")
    with all_sites_session(session_factory) as s:
        sites.create_site(s, "evening-post", sites.SiteChanges(rules_path=str(own)), actor="test")
        s.commit()
    add(session_factory, "e1", "Faster buses are worth some parking.", site="evening-post")
    assert process_comments(runtime, ["e1"], "evening-post")["decided"] == ["e1"]
    version = runtime.rulebooks.for_path(own).ruleset.version
    assert version != runtime.rulebook.ruleset.version
    with site_session(session_factory, "evening-post") as s:
        decision = s.get(Comment, ("evening-post", "e1")).decisions[0]
        assert decision.rules_version == version
        assert s.get(RulesVersion, version).source == str(own)


def test_unscorable_comment_is_escalated_after_max_attempts(runtime, session_factory):
    add(session_factory, "c1", "Bus lanes!")
    with session_factory() as s:
        s.get(Comment, ("default", "c1")).scoring_attempts = runtime.settings.max_scoring_attempts
        s.commit()
    process_comments(runtime, ["c1"])
    with session_factory() as s:
        c = s.get(Comment, ("default", "c1"))
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
        c = s.get(Comment, ("default", "c1"))
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


def test_readers_reports_are_counted_when_a_pending_comment_is_scored(runtime, session_factory):
    from moderation.policy import ReportReason
    from moderation.reports import NewReport, record_report

    text = "Faster buses on Main Street are worth losing some parking."
    add(session_factory, "reported", text)
    add(session_factory, "quiet", text, author="u2")
    with session_factory() as s:
        for reader in ("r1", "r2", "r3"):
            new = NewReport(reporter_id=reader, reason=ReportReason.SPAM)
            record_report(session=s, comment_id="reported", new=new)
        s.commit()
    process_comments(runtime, ["reported", "quiet"])
    with session_factory() as s:
        reported, quiet = (
            s.get(Comment, ("default", "reported")),
            s.get(Comment, ("default", "quiet")),
        )
        assert (reported.status, quiet.status) == ("escalated", "approved")
        [decision] = s.scalars(select(Decision).where(Decision.comment_id == "reported")).all()
    assert decision.rule == "reported" and decision.priority == 50
    assert decision.reasons == [{"rule": "reported", "message": "reported by 3 readers (3 spam)"}]


def _toxicity_evidence(session_factory, cid):
    with session_factory() as s:
        return s.get(Score, ("default", cid, "toxicity")).evidence


def test_the_decision_and_its_webhook_do_not_wait_for_spans(runtime, session_factory):
    runtime.settings = runtime.settings.model_copy(
        update={"webhook_url": "http://127.0.0.1:9/hook", "explain_queue": "test-explain"}
    )
    add(session_factory, "c1", "Faster buses on Main Street are worth losing some parking.")
    add(session_factory, "c2", "Shut up you fucking idiot, you stupid piece of shit.")
    explain_queue(runtime.redis, runtime.settings).empty()
    out = process_comments(runtime, ["c1", "c2"])
    # Decided, delivery recorded and queued, with the explain job not run: spans pending.
    assert sorted(out["decided"]) == ["c1", "c2"]
    with session_factory() as s:
        assert s.get(Comment, ("default", "c2")).status == "rejected"
        deliveries = s.scalars(select(WebhookDelivery)).all()
        assert {d.comment_id for d in deliveries} == {"c1", "c2"}
    queued = set(webhook_queue(runtime.redis, runtime.settings).job_ids)
    assert {d.job_id for d in deliveries} <= queued
    clean, rude = (_toxicity_evidence(session_factory, c) for c in ("c1", "c2"))
    assert clean["spans"] == [] and "spans_pending" not in clean  # nothing to explain
    assert rude["spans"] is None and rude["spans_pending"] is True
    # One explain job, for the comment that has spans to find, on the low-priority queue.
    [job] = explain_queue(runtime.redis, runtime.settings).jobs
    assert job.func_name == EXPLAIN_JOB and job.args == (["c2"], "default")

    done = explain_stored(runtime, ["c1", "c2"])
    assert done["explained"] == ["c2"] and done["skipped"] == ["c1"]
    rude = _toxicity_evidence(session_factory, "c2")
    assert "spans_pending" not in rude
    assert {span["text"] for span in rude["spans"]} & {"fucking", "idiot", "shit", "stupid"}
    assert rude["lexical"] > 0.5  # the rest of the evidence kept
    again = explain_stored(runtime, ["c1", "c2"])  # a re-run changes nothing
    assert again["explained"] == [] and _toxicity_evidence(session_factory, "c2") == rude


def test_each_comment_to_explain_is_a_job_of_its_own(runtime, session_factory):
    """A worker runs a job to its end: one comment a job bounds how long a live comment
    waits behind spans to one comment's."""
    runtime.settings = runtime.settings.model_copy(update={"explain_queue": "test-explain-1"})
    add(session_factory, "r1", "Shut up you fucking idiot, you stupid piece of shit.")
    add(session_factory, "r2", "What a moronic, brain-dead take from a total loser.", author="u2")
    explain_queue(runtime.redis, runtime.settings).empty()
    process_comments(runtime, ["r1", "r2"])
    jobs = explain_queue(runtime.redis, runtime.settings).jobs
    assert sorted(job.args for job in jobs) == [(["r1"], "default"), (["r2"], "default")]


def test_explaining_skips_a_score_that_changed_meanwhile(runtime, session_factory, monkeypatch):
    add(session_factory, "c2", "Shut up you fucking idiot, you stupid piece of shit.")
    process_comments(runtime, ["c2"])
    fresh = {"model": "rescored", "spans": None, "spans_pending": True}
    original = runtime.scorers.explain

    def rescored_during(name, texts, scores):
        with session_factory() as s:  # a re-score lands while the spans are computed
            row = s.get(Score, ("default", "c2", "toxicity"))
            row.scored_at = datetime(2030, 1, 1, tzinfo=UTC)
            row.evidence = fresh
            s.commit()
        return original(name, texts, scores)

    monkeypatch.setattr(runtime.scorers, "explain", rescored_during)
    assert explain_stored(runtime, ["c2"])["explained"] == []
    assert _toxicity_evidence(session_factory, "c2") == fresh
