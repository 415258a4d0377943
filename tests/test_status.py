"""``moderation status`` on a real Redis and real databases: the snapshot's figures, the
screen, ``--json``, the one-line errors, a real worker process; and the offline commands'
progress bar (moderation/offline/progress.py)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from rich.console import Console
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry

from moderation import cli
from moderation.db import all_sites_session
from moderation.db.models import (
    Article,
    Comment,
    ReviewClaim,
    RulesVersion,
    Site,
    WebhookDelivery,
)
from moderation.exceptions import NotFoundError
from moderation.heartbeats import Heartbeat, WorkerState, now_iso, publish
from moderation.offline.progress import progress_bar
from moderation.queue import SCORE_JOB
from moderation.settings import get_settings
from moderation.status import Status, age, gather, render
from tests.conftest import ROOT, TEST_REDIS_URL, usual_settings

V1 = "a" * 64
V2 = "b" * 64
NOW = datetime.fromisoformat("2026-03-02T12:00:00+00:00")


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def comment(site: str, cid: str, status: str, *, received: float, decided: float | None = None):
    return Comment(
        site_id=site, id=cid, article_id="a1", author_id="u1", text=f"comment {cid}",
        content_hash="h", status=status, created_at=ago(received), received_at=ago(received),
        decided_at=ago(decided) if decided is not None else None,
    )  # fmt: skip


def delivery(site: str, did: str, cid: str, status: str, *, attempts: int = 0, due: float = 0):
    return WebhookDelivery(
        site_id=site, id=did, event="comment.decided", comment_id=cid, url="http://pub/hook",
        body=b"{}", status=status, attempts=attempts, created_at=ago(3600),
        next_attempt_at=ago(due),
    )  # fmt: skip


@pytest.fixture
def seeded(session_factory):
    """Three sites: ``default`` with pending, escalated (open, claimed, with an expired
    claim) and decided comments and every kind of delivery; ``daily`` with the oldest
    pending comment and an escalation two days old; ``quiet`` with nothing."""
    with all_sites_session(session_factory) as s:
        s.add_all([Site(id="daily", name="Daily"), Site(id="quiet", name="Quiet")])
        s.flush()
        for site in ("default", "daily"):
            s.add(Article(site_id=site, id="a1", title="t", body="b", content_hash="h"))
        s.flush()
        s.add_all([
            comment("default", "p1", "pending", received=300),
            comment("default", "p2", "pending", received=60),
            comment("default", "e1", "escalated", received=700, decided=600),
            comment("default", "e2", "escalated", received=1300, decided=1200),  # claimed
            comment("default", "e3", "escalated", received=1000, decided=900),  # claim expired
            comment("default", "ok", "approved", received=50, decided=40),
            comment("daily", "q1", "pending", received=7200),
            comment("daily", "f1", "escalated", received=2 * 86400 + 60, decided=2 * 86400),
        ])  # fmt: skip
        s.flush()
        s.add_all([
            ReviewClaim(site_id="default", comment_id="e2", moderator="ann",
                        claimed_at=ago(60), expires_at=NOW + timedelta(seconds=240)),
            ReviewClaim(site_id="default", comment_id="e3", moderator="bob",
                        claimed_at=ago(400), expires_at=ago(10)),
            delivery("default", "d-due", "ok", "pending", due=30),
            delivery("default", "d-retry", "ok", "pending", attempts=2, due=-60),
            delivery("default", "d-held", "e1", "pending", due=-20),
            delivery("default", "d-failed", "e1", "failed", attempts=6, due=500),
            delivery("default", "d-done", "ok", "delivered", attempts=1, due=900),
            RulesVersion(hash=V1, source="rules/default.yaml", content="",
                         first_active_at=ago(86400)),
            RulesVersion(hash=V2, source="rules/default.yaml", content="",
                         first_active_at=ago(3600)),
        ])  # fmt: skip
        s.commit()


def beat(name: str, queues: list[str], **kw) -> Heartbeat:
    values = dict(pid=4242, host="box", state=WorkerState.READY, started_at=now_iso())
    return Heartbeat(name=name, queues=queues, **(values | kw))


@pytest.fixture
def workers(settings, redis_conn):
    """Jobs in the queues and four workers: one busy scoring p1 and p2 (a real RQ worker
    record and execution), one idle, one that failed to load, and a webhook worker."""
    live = Queue(settings.queue, connection=redis_conn)
    scoring = [settings.queue, settings.effective_bulk_queue, settings.explain_queue]
    busy = live.enqueue(SCORE_JOB, ["p1", "p2"], "default", description="score 2 comment(s)")
    for cid in ("x1", "x2", "x3"):
        live.enqueue(SCORE_JOB, [cid], "default", description="score 1 comment(s)")
    hooks = Queue(settings.webhook_queue, connection=redis_conn)
    hooks.enqueue("workers.jobs.deliver_webhook", "d-due")
    hooks.enqueue_in(timedelta(seconds=60), "workers.jobs.deliver_webhook", "d-retry")
    gone = hooks.enqueue("workers.jobs.deliver_webhook", "d-failed")
    redis_conn.lrem(hooks.key, 0, gone.id)
    FailedJobRegistry(queue=hooks).add(gone, exc_string="ConnectError")

    ttl = 600
    publish(redis_conn, queue=settings.queue, ttl_seconds=ttl,
            beat=beat("w-busy", scoring, rules_version=V2))  # fmt: skip
    publish(redis_conn, queue=settings.queue, ttl_seconds=ttl,
            beat=beat("w-idle", scoring, rules_version=V2))  # fmt: skip
    publish(redis_conn, queue=settings.queue, ttl_seconds=ttl,
            beat=beat("w-bad", scoring, state=WorkerState.FAILED, error="loading its scorers "
                      "toxicity failed: no model"))  # fmt: skip
    publish(redis_conn, queue=settings.webhook_queue, ttl_seconds=ttl,
            beat=beat("hook-1", [settings.webhook_queue]))  # fmt: skip

    worker = SimpleWorker([live], name="w-busy", connection=redis_conn)
    worker.register_birth()
    taken, _ = Queue.dequeue_any([live], None, connection=redis_conn)  # RQ's own dequeue
    assert taken.id == busy.id
    worker.prepare_execution(taken)
    worker.prepare_job_execution(taken)  # busy, as a scoring pass marks each job it takes
    for name, queues in (("w-idle", [live]), ("hook-1", [hooks])):
        idle = SimpleWorker(queues, name=name, connection=redis_conn)
        idle.register_birth()
        idle.set_state("idle")
    return busy


def snapshot(settings, redis_conn, session_factory, site: str | None = None) -> Status:
    return gather(
        conn=redis_conn, session_factory=session_factory, settings=settings, site=site, now=NOW
    )


def screen(status: Status) -> str:
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(render(status))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_the_snapshot_counts_everything_exactly(
    seeded, workers, settings, redis_conn, session_factory
):
    status = snapshot(settings, redis_conn, session_factory)
    queues = {q.lane: q for q in status.queues}
    assert [(q.name, q.lane) for q in status.queues] == [
        (settings.queue, "live"),
        (settings.effective_bulk_queue, "bulk"),
        (settings.explain_queue, "explain"),
        (settings.webhook_queue, "webhooks"),
    ]
    assert (queues["live"].queued, queues["live"].started, queues["live"].failed) == (3, 1, 0)
    assert (queues["bulk"].queued, queues["bulk"].oldest_queued_seconds) == (0, None)
    hooks = queues["webhooks"]
    assert (hooks.queued, hooks.scheduled, hooks.failed, hooks.started) == (1, 1, 1, 0)
    # Jobs were queued moments ago in real time; NOW is a fixed past moment: age 0.
    assert queues["live"].oldest_queued_seconds == 0.0

    by_name = {w.name: w for w in status.workers}
    assert [(w.name, w.kind, w.state) for w in status.workers] == [
        ("w-bad", "scoring", "failed"),
        ("w-busy", "scoring", "busy"),
        ("w-idle", "scoring", "idle"),
        ("hook-1", "webhooks", "idle"),
    ]
    busy = by_name["w-busy"]
    assert (busy.host, busy.pid, busy.rules_version) == ("box", 4242, V2)
    [job] = busy.jobs
    assert (job.id, job.function, job.description, job.site, job.comment_ids) == (
        workers.id, SCORE_JOB, "score 2 comment(s)", "default", ["p1", "p2"]
    )  # fmt: skip
    assert busy.comment_ids == ["p1", "p2"]
    assert by_name["w-idle"].jobs == [] and by_name["hook-1"].rules_version is None
    assert by_name["w-bad"].error == "loading its scorers toxicity failed: no model"

    assert status.oldest_pending is not None
    assert (status.oldest_pending.id, status.oldest_pending.site) == ("q1", "daily")
    assert status.oldest_pending.age_seconds == 7200
    assert status.rules.active == V2 and status.rules.agree
    assert status.rules.versions == {V2: ["w-busy", "w-idle"]}
    assert (status.rules.last_recorded, status.rules.last_recorded_at) == (V2, ago(3600))

    sites = {s.site: s for s in status.sites}
    assert list(sites) == ["daily", "default", "quiet"]
    default = sites["default"]
    assert (default.pending, default.oldest_pending_seconds) == (2, 300)
    assert (default.escalated_open, default.escalated_claimed) == (2, 1)
    assert default.oldest_open_escalation_seconds == 900  # e3: its claim has expired
    assert (default.webhooks_pending, default.webhooks_retrying, default.webhooks_failed) == (
        3, 1, 1
    )  # fmt: skip
    assert default.oldest_due_webhook_seconds == 30  # d-retry and d-held are not due yet
    daily = sites["daily"]
    assert (daily.pending, daily.oldest_pending_seconds) == (1, 7200)
    assert (daily.escalated_open, daily.oldest_open_escalation_seconds) == (1, 2 * 86400)
    assert (daily.webhooks_pending, daily.oldest_due_webhook_seconds) == (0, None)
    assert sites["quiet"] == type(default)(site="quiet")
    assert (status.pending, status.escalated_open, status.webhooks_pending) == (3, 3, 3)
    assert status.attention() == [
        "worker w-bad takes no jobs: loading its scorers toxicity failed: no model",
        f"1 failed job(s) in queue {settings.webhook_queue} (rq info)",
        "1 webhook delivery(ies) failed and wait to retry: is the publisher's endpoint up? "
        "(GET /v1/webhooks/deliveries?status=pending)",
        "1 webhook delivery(ies) gave up (POST /v1/webhooks/deliveries/ID/redeliver)",
    ]


def test_the_screen_shows_the_figures(seeded, workers, settings, redis_conn, session_factory):
    text = screen(snapshot(settings, redis_conn, session_factory))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert lines[0] == "moderation status 2026-03-02 12:00:00 UTC, every site"
    assert f"{settings.queue} live 3 0 s 1 0 0" in lines
    assert f"{settings.webhook_queue} webhooks 1 0 s 0 1 1" in lines
    assert "w-busy scoring box 4242 busy bbbbbbbbbbbb 0 s" in lines
    assert "w-idle scoring box 4242 idle bbbbbbbbbbbb 0 s" in lines
    assert "w-bad scoring box 4242 failed - 0 s" in lines
    assert "hook-1 webhooks box 4242 idle - 0 s" in lines
    assert "w-busy scoring 2 comments of default for 0 s: p1, p2" in lines  # what it is doing
    assert "Rules: bbbbbbbbbbbb on 2 workers (newest: bbbbbbbbbbbb, 2026-03-02 11:00)" in lines
    assert "Oldest pending comment: q1 on site daily, waiting 2 h 00 min" in lines
    assert "daily 1 2 h 00 min 1 0 2 d 00 h" in lines
    assert "default 2 5 min 2 1 15 min" in lines
    assert "quiet 0 - 0 0 -" in lines
    assert "default 3 1 1 30 s" in lines  # the webhook outbox
    assert "Needs a look:" in lines
    assert "- 1 webhook delivery(ies) gave up (POST /v1/webhooks/deliveries/ID/redeliver)" in lines


def test_the_database_is_read_in_six_queries(seeded, settings, redis_conn, session_factory):
    from sqlalchemy import event

    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = session_factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        for site in (None, "default"):
            statements.clear()
            snapshot(settings, redis_conn, session_factory, site=site)
            assert len(statements) == 6, statements  # however many sites
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_one_site(seeded, workers, settings, redis_conn, session_factory):
    status = snapshot(settings, redis_conn, session_factory, site="default")
    assert [s.site for s in status.sites] == ["default"]
    assert status.oldest_pending is not None and status.oldest_pending.id == "p1"
    assert (status.pending, status.escalated_open, status.webhooks_failed) == (2, 2, 1)
    assert len(status.workers) == 4  # queues and workers are the deployment's
    assert "moderation status  2026-03-02 12:00:00 UTC, site default" in screen(status)
    with pytest.raises(NotFoundError, match="site 'nope' does not exist"):
        snapshot(settings, redis_conn, session_factory, site="nope")


def test_workers_that_disagree_on_the_rules_need_a_look(settings, redis_conn, session_factory):
    for name, version in (("w1", V1), ("w2", V2), ("w3", V2)):
        publish(redis_conn, queue=settings.queue, ttl_seconds=60,
                beat=beat(name, [settings.queue], rules_version=version))  # fmt: skip
    status = snapshot(settings, redis_conn, session_factory)
    assert (status.rules.active, status.rules.agree) == (V2, False)
    assert status.rules.versions == {V1: ["w1"], V2: ["w2", "w3"]}
    assert [w.state for w in status.workers] == ["starting"] * 3  # not registered with RQ yet
    assert status.attention() == [
        "no scoring worker is taking jobs: comments wait (moderation worker)",
        "workers decide with different rules versions: aaaaaaaaaaaa (1), bbbbbbbbbbbb (2)",
    ]
    assert "Rules: bbbbbbbbbbbb on 2 workers, 1 other version(s) on the rest" in screen(status)


# --- the command ------------------------------------------------------------------------------
@pytest.fixture
def environment(settings, monkeypatch):
    """The command's settings from the environment, as an operator's shell gives them."""
    for key, value in (
        ("DATABASE_URL", settings.effective_database_url),
        ("REDIS_URL", TEST_REDIS_URL),
        ("QUEUE", settings.queue),
        ("VAR_DIR", str(settings.var_dir)),
    ):
        monkeypatch.setenv(f"MODERATION_{key}", value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_json_for_scripts(seeded, workers, settings, environment, capsys):
    assert cli.main(["status", "--json"]) == 0
    out, err = capsys.readouterr()
    body = json.loads(out)
    assert err == ""
    # The command's clock is the real one: e2's claim (NOW + 4 min) has expired by it.
    assert body["totals"] == {
        "pending": 3, "escalated_open": 4, "webhooks_pending": 3, "webhooks_failed": 1
    }  # fmt: skip
    default = next(s for s in body["sites"] if s["site"] == "default")
    assert (default["pending"], default["escalated_claimed"], default["webhooks_retrying"]) == (
        2, 0, 1
    )  # fmt: skip
    busy = next(w for w in body["workers"] if w["name"] == "w-busy")
    assert (busy["state"], busy["jobs"][0]["comment_ids"]) == ("busy", ["p1", "p2"])
    assert body["oldest_pending"]["id"] == "q1" and body["oldest_pending"]["site"] == "daily"
    assert body["rules"]["active"] == V2 and body["rules"]["agree"] is True
    assert body["queues"][0] == {
        "name": settings.queue, "lane": "live", "queued": 3,
        "oldest_queued_seconds": body["queues"][0]["oldest_queued_seconds"], "started": 1,
        "scheduled": 0, "failed": 0,
    }  # fmt: skip
    assert 0 <= body["queues"][0]["oldest_queued_seconds"] < 60  # real time, this time
    datetime.fromisoformat(body["taken_at"])
    assert body["attention"][0].startswith("worker w-bad takes no jobs")

    assert cli.main(["status", "--site", "daily"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    assert rows[0][:2] == ["moderation", "status"] and rows[0][-2:] == ["site", "daily"]
    named = [row[0] for row in rows if row and row[0] in ("daily", "default", "quiet")]
    assert named == ["daily", "daily"]  # its row in the comments table and in the outbox's


def test_unreachable_redis_is_one_line_and_exit_1(seeded, environment, monkeypatch, capsys):
    monkeypatch.setenv("MODERATION_REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    assert cli.main(["status"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("moderation: error: Redis is unreachable: Error 111 connecting to "
                          "127.0.0.1:1. Connection refused.")  # fmt: skip
    assert err.rstrip().endswith("(redis://127.0.0.1:1/0)") and err.count("\n") == 1
    assert cli.main(["status", "--json"]) == 1  # scripts get no half-written JSON either
    assert capsys.readouterr().out == ""


def test_unreachable_or_missing_database_is_one_line(environment, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MODERATION_DATABASE_URL", f"sqlite:///{tmp_path / 'none' / 'm.db'}")
    get_settings.cache_clear()
    assert cli.main(["status"]) == 1
    assert capsys.readouterr().err == (
        f"moderation: error: no database at {tmp_path / 'none' / 'm.db'} "
        "(MODERATION_DATABASE_URL; `moderation serve` or `moderation db upgrade` creates it)\n"
    )
    assert not (tmp_path / "none").exists()  # a look creates nothing
    monkeypatch.setenv(
        "MODERATION_DATABASE_URL", "postgresql+psycopg://postgres:secret@127.0.0.1:1/nowhere"
    )
    get_settings.cache_clear()
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("moderation: error: PostgreSQL: connection ") and err.count("\n") == 1
    assert err.rstrip().endswith("(postgresql+psycopg://postgres:***@127.0.0.1:1/nowhere)")
    assert "secret" not in err


def test_the_command_loads_no_model():
    """On the operator's path: importing it (and the parser) pulls in no model library."""
    heavy = ("torch", "transformers", "sentence_transformers", "sklearn", "detoxify")
    code = (
        "import sys; import moderation.status; from moderation.cli import build_parser; "
        "assert callable(build_parser().parse_args(['status']).func); "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_options_are_checked(capsys):
    for argv, message in (
        (["status", "--interval", "0"], "expected seconds above 0, got '0'"),
        (["status", "--watch", "--json"], "not allowed with argument --watch"),
    ):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(argv)
        assert message in capsys.readouterr().err


def test_watch_refreshes_until_ctrl_c(seeded, settings, session_factory, tmp_path, monkeypatch):
    """A screen, Redis killed (shown, waited out), Redis back (a screen again), Ctrl-C:
    exit 0, no traceback."""
    from moderation import status as status_module
    from tests.e2e.conftest import RedisServer

    server = RedisServer(tmp_path / "redis")
    server.start()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            server.kill()
        elif len(waits) == 2:
            server.start()  # the same port, empty
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(status_module, "time", SimpleNamespace(sleep=sleep))
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None)
    args = SimpleNamespace(site=None, json=False, watch=True, interval=0.5)
    try:
        watched = settings.model_copy(update={"redis_url": server.url})
        assert status_module.run_status(args, settings=watched, console=console) == 0
    finally:
        server.kill()
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert waits == [0.5, 0.5, 0.5]
    assert shown.count("moderation status") == 4  # first, the outage, back, as Live stops
    refused = f"Error 111 connecting to 127.0.0.1:{server.port}. Connection refused."
    assert f"unavailable: Redis is unreachable: {refused}" in shown
    assert "Oldest pending comment: q1 on site daily" in shown


# --- a real worker process ---------------------------------------------------------------------
@pytest.mark.slow
def test_a_real_worker_appears_with_its_state(database_url, redis_conn, tmp_path):
    """``moderation worker`` (the spam scorer only, a rules file on its score: it loads in
    seconds) shows up idle with its pid, host and the rules version it loaded; after a
    clean stop it is gone."""
    import socket

    from moderation.db import make_engine, make_session_factory
    from moderation.policy import load_rules

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "default: {action: approve}\n"
        "rules:\n  - {id: spam, when: {score: spam, gte: 0.9}, action: reject, reason: spam}\n"
    )
    settings = usual_settings(database_url, tmp_path / "var", rules=rules, scorers="spam")
    env = {
        **os.environ,
        "MODERATION_DATABASE_URL": database_url,
        "MODERATION_REDIS_URL": TEST_REDIS_URL,
        "MODERATION_RULES": str(rules),
        "MODERATION_SCORERS": "spam",
        "MODERATION_QUEUE": settings.queue,
        "MODERATION_VAR_DIR": str(tmp_path / "var"),
        "MODERATION_PERSPECTIVE_ENABLED": "false",
    }
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moderation", "worker", "--name", "real-1"],
        env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            status = gather(conn=redis_conn, session_factory=factory, settings=settings)
            if status.workers and status.workers[0].state == "idle":
                break
            assert time.monotonic() < deadline, (status.workers, log.read_text())
            time.sleep(0.2)
        [worker] = status.workers
        assert (worker.name, worker.kind, worker.pid, worker.host) == (
            "real-1", "scoring", proc.pid, socket.gethostname()
        )  # fmt: skip
        assert worker.rules_version == load_rules(rules).version
        assert (status.rules.active, status.rules.last_recorded) == (worker.rules_version,) * 2
        assert "real-1" in screen(status) and status.attention() == []
        proc.terminate()
        assert proc.wait(30) == 0
        assert gather(conn=redis_conn, session_factory=factory, settings=settings).workers == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        engine.dispose()


# --- the offline commands' progress bar --------------------------------------------------------
def test_no_bar_when_stderr_is_not_a_terminal(capsys):
    with progress_bar("backtest", 10) as bar:
        for _ in range(10):
            bar.advance()
    assert (bar.drawn, bar.done, bar.total) == (False, 10, 10)
    assert capsys.readouterr() == ("", "")
    quiet = Console(file=io.StringIO(), force_terminal=True)
    with progress_bar("backtest", 10, enabled=False, console=quiet) as bar:
        bar.advance(10)
    assert (bar.drawn, bar.done) == (False, 10)
    assert quiet.file.getvalue() == ""  # type: ignore[attr-defined]


def test_the_bar_counts_with_time_left_when_drawn():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with progress_bar("scoring toxicity", 300, console=console) as bar:
        for _ in range(3):
            bar.advance(64)
        bar.note("loss 0.213")
        bar.advance(108)
    assert (bar.drawn, bar.done) == (True, 300)
    last = out.getvalue().rstrip().rsplit("\r", 1)[-1]
    assert "scoring toxicity" in last and "300/300 comments" in last
    assert "elapsed" in last and "0:00:00 left loss 0.213" in last


def test_ages_read_as_people_say_them():
    assert [age(s) for s in (None, 0, 59.9, 119, 120, 3599, 3600, 7260, 86400, 90000)] == [
        "-", "0 s", "59 s", "119 s", "2 min", "59 min", "1 h 00 min", "2 h 01 min", "1 d 00 h",
        "1 d 01 h",
    ]  # fmt: skip
