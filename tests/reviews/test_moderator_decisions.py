"""Moderators' decisions through the one service function every route calls."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry

from moderation import reviews
from moderation.db import Comment
from moderation.exceptions import AlreadyDecidedError, ClaimedError
from tests.api.test_reviews import RULES_VERSION, add_comment


@pytest.fixture
def hook_settings(settings):
    return settings.model_copy(
        update={"webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": "s3cret"}
    )


def decide(session_factory, settings, redis_conn, cid, moderator, action, **kw):
    with session_factory() as s:
        d = reviews.apply_moderator_decision(
            session=s,
            conn=redis_conn,
            settings=settings,
            comment_id=cid,
            moderator=moderator,
            action=reviews.ModeratorAction(action),
            **kw,
        )
        return d.action, d.actor, d.rules_version


def test_a_review_decision_is_recorded_then_its_webhook_queued(
    session_factory, hook_settings, redis_conn
):
    add_comment(session_factory, "c1")
    got = decide(session_factory, hook_settings, redis_conn, "c1", "ann", "reject", note="n")
    assert got == ("reject", "ann", RULES_VERSION)
    # Held for the undo window: scheduled, not queued yet (tests/api/test_undo.py).
    queue = Queue(hook_settings.webhook_queue, connection=redis_conn)
    assert queue.get_jobs() == []
    jobs = [queue.fetch_job(i) for i in ScheduledJobRegistry(queue=queue).get_job_ids()]
    assert [j.func_name for j in jobs if j] == ["workers.jobs.deliver_webhook"]
    with pytest.raises(AlreadyDecidedError):
        decide(session_factory, hook_settings, redis_conn, "c1", "bob", "approve")


def test_only_overturning_accepts_an_automatic_decision(session_factory, settings, redis_conn):
    add_comment(session_factory, "c1", action="approve")
    with pytest.raises(AlreadyDecidedError):
        decide(session_factory, settings, redis_conn, "c1", "ann", "reject")
    got = decide(session_factory, settings, redis_conn, "c1", "ann", "reject", overturning=True)
    assert got == ("reject", "ann", RULES_VERSION)
    with session_factory() as s:
        assert s.get(Comment, ("default", "c1")).status == "rejected"


def test_a_review_someone_else_holds_is_refused(session_factory, settings, redis_conn):
    add_comment(session_factory, "c1")
    with session_factory() as s:
        reviews.claim(session=s, comment_id="c1", moderator="ann", lease_seconds=60)
    for overturning in (False, True):
        with pytest.raises(ClaimedError):
            decide(
                session_factory, settings, redis_conn, "c1", "bob", "approve",
                overturning=overturning,
            )  # fmt: skip


@pytest.mark.parametrize(("action", "said"), [("approve", "approved"), ("reject", "rejected")])
def test_the_reason_says_what_the_moderator_did(
    session_factory, settings, redis_conn, action, said
):
    add_comment(session_factory, "c1")
    decide(session_factory, settings, redis_conn, "c1", "ann", action, reason_code="off-topic")
    with session_factory() as s:
        (reason,) = s.get(Comment, ("default", "c1")).decisions[-1].reasons
    assert reason == {"rule": "moderator", "message": f"{said} by moderator ann (off-topic)"}


def test_overturning_an_approval_to_a_rejection_queues_the_spans_it_never_got(
    session_factory, settings, redis_conn
):
    from moderation.db import Score
    from moderation.queue import EXPLAIN_JOB, explain_queue

    settings = settings.model_copy(update={"explain_queue": "test-explain-overturn"})
    queue = explain_queue(redis_conn, settings)
    queue.empty()
    add_comment(session_factory, "c1", action="approve")
    with session_factory() as s:  # approved by the rules: spans left pending, none queued
        s.get(Score, ("default", "c1", "toxicity")).evidence = {
            "spans": None,
            "spans_pending": True,
        }
        s.commit()
    decide(session_factory, settings, redis_conn, "c1", "ann", "reject", overturning=True)
    [job] = queue.jobs
    assert job.func_name == EXPLAIN_JOB and job.args == (["c1"], "default")
    decide(session_factory, settings, redis_conn, "c1", "ann", "approve", overturning=True)
    assert len(queue.jobs) == 1  # approving again asks for nothing
