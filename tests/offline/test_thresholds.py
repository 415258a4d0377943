"""``moderation calibrate``: thresholds learned from moderators' decisions.

The site of ``known_site()`` is built so that the best thresholds are known: moderators
approve every comment below toxicity 0.50, reject every one from 0.72, and in between reject
every other one (a band only a person can decide). Four approvals overturned already use
1% of the 2% the rules may get wrong; deciding one 0.01 step of the band automatically would
add 1.2%, so the suggestion is exactly escalate >= 0.50, reject >= 0.72 (the shipped rules
reject from 0.85).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import pytest

from moderation import cli, reasons
from moderation.db import make_engine, make_session_factory, site_session
from moderation.db.models import (
    Article,
    AuditEntry,
    Comment,
    DecidedBy,
    Decision,
    Score,
    Site,
    utcnow,
)
from moderation.decisions import STATUS_FOR_ACTION
from moderation.offline import backtest as bt
from moderation.offline import thresholds as th
from moderation.policy import Action, ArticleFacts, EvaluationContext, load_rules
from moderation.settings import get_settings
from tests.conftest import ROOT

DEFAULT_RULES = ROOT / "rules" / "default.yaml"
DEFAULT_SCORES = "toxicity,severe_toxicity,obscene,threat,insult,identity_attack,relevance,spam"
PNG = b"\x89PNG\r\n\x1a\n"


# --- seeding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One comment: its scores, and a moderator's decision if one made it."""

    toxicity: float
    moderator: str | None = None
    reason: str = "abuse"
    """The moderator's rejection's reason code."""
    scores: dict[str, float] = field(default_factory=dict)
    """Scores besides toxicity (default: relevance 0.9, spam 0.01)."""
    seconds: float | None = 40.0
    """From claim to decision, for a moderator's decision on an escalated comment."""
    ago: timedelta = timedelta(days=1)


def known_site() -> list[Spec]:
    specs = [Spec(round(0.02 + (i % 48) * 0.01, 2)) for i in range(100)]  # approved
    for step in range(22):  # 0.50 .. 0.71: escalated; moderators reject every other one
        t = round(0.50 + step * 0.01, 2)
        specs += [Spec(t, "reject" if k % 2 else "approve") for k in range(10)]
    for step in range(13):  # 0.72 .. 0.84: escalated; moderators reject them all
        specs += [Spec(round(0.72 + step * 0.01, 2), "reject")] * 4
    for step in range(15):  # 0.85 .. 0.99: rejected by the rules, nobody overturned
        specs += [Spec(round(0.85 + step * 0.01, 2))] * 2
    # Overturned for a reason no rule gives: left out of every score's fit.
    specs += [Spec(0.1, "reject", reason="personal-data")] * 3
    specs += [Spec(0.2, "reject")]  # overturned: an error of the approval
    return specs


def seed(factory, specs: list[Spec], *, site: str = "default") -> dict[str, int]:
    """Comments decided by the default rules as a worker would, then by moderators;
    returns the rules' decisions by action."""
    ruleset = load_rules(DEFAULT_RULES)
    now = utcnow()
    counts = {a.value: 0 for a in Action}
    with site_session(factory, site) as session:
        if site != "default" and session.get(Site, site) is None:
            session.add(Site(id=site, name=site.title(), community_ids=[]))
            session.flush()
        session.add(Article(id="a1", title="Budget", body="The council passed a budget.",
                            content_hash="h", tags=[]))  # fmt: skip
        session.flush()
        for i, spec in enumerate(specs):
            cid, at = f"c{i:04d}", now - spec.ago
            scores = {"toxicity": spec.toxicity, "relevance": 0.9, "spam": 0.01} | spec.scores
            verdict = ruleset.evaluate(
                EvaluationContext(
                    scores=scores, text=f"Comment {cid} about the budget.", author_id=f"u{i}",
                    article=ArticleFacts(id="a1"), is_reply=False, created_at=at,
                    history={q: 0 for q in ruleset.history_queries},
                )
            )  # fmt: skip
            counts[verdict.action.value] += 1
            final = Action(spec.moderator) if spec.moderator else verdict.action
            session.add(
                Comment(
                    id=cid, article_id="a1", author_id=f"u{i}", content_hash="h",
                    text=f"Comment {cid} about the budget.", created_at=at, received_at=at,
                    status=STATUS_FOR_ACTION[final].value, decided_at=at,
                )
            )  # fmt: skip
            session.add_all(
                Score(comment_id=cid, name=name, value=value) for name, value in scores.items()
            )
            session.add(
                Decision(
                    comment_id=cid, action=verdict.action.value, decided_by=DecidedBy.RULES.value,
                    rule=verdict.rule, reason_code=reasons.rules_reason(ruleset, verdict),
                    rules_version=ruleset.version, decided_at=at,
                )
            )  # fmt: skip
            if spec.moderator is None:
                continue
            decided = at + timedelta(minutes=5)
            session.add(
                Decision(
                    comment_id=cid, action=spec.moderator, decided_by=DecidedBy.MODERATOR.value,
                    actor="mod-1", rule="moderator", decided_at=decided,
                    reason_code=spec.reason if spec.moderator == "reject" else None,
                )
            )  # fmt: skip
            if verdict.action is Action.ESCALATE and spec.seconds is not None:
                claimed = decided - timedelta(seconds=spec.seconds)
                for action, when in (("review.claim", claimed), ("review.decide", decided)):
                    session.add(
                        AuditEntry(at=when, actor="mod-1", action=action, subject_type="comment",
                                   subject_id=cid)
                    )  # fmt: skip
        session.commit()
    return counts


def realistic_site(n: int = 1500, *, seed: int = 20241207) -> list[Spec]:
    """A month of comments as a newsroom sees them: mostly civil and on-topic, some abuse,
    spam and off-topic chatter, every label of the offline model. Moderators judge each
    escalated comment; half the rules' mistakes are caught and overturned; claims take
    about 40 s. (``docs/calibration.png`` is the plot of this site.)"""
    rng = random.Random(seed)

    def sigmoid(x: float) -> float:
        return 1 / (1 + math.exp(-x))

    specs = []
    for _ in range(n):
        abusive = rng.random() < 0.18
        tox = rng.betavariate(4, 2.2) if abusive else rng.betavariate(1.3, 9)
        off_topic = rng.random() < 0.12
        relevance = rng.betavariate(1.2, 6) if off_topic else rng.betavariate(7, 1.6)
        spammy = rng.random() < 0.05
        spam = rng.betavariate(6, 1.8) if spammy else rng.betavariate(1, 40)
        threat = min(1.0, tox * rng.betavariate(1, 6) * (4 if rng.random() < 0.05 else 1))
        identity = min(1.0, tox * rng.betavariate(1, 5) * (3 if rng.random() < 0.06 else 1))
        scores = {
            "relevance": relevance,
            "spam": spam,
            "threat": threat,
            "identity_attack": identity,
            "obscene": tox * rng.betavariate(2, 2),
            "insult": tox * rng.betavariate(3, 2),
            "severe_toxicity": tox * rng.betavariate(1, 4),
        }
        # What the moderators decide, and why (the first reason that holds).
        verdicts = (
            ("threat", sigmoid((threat - 0.85) / 0.04)),
            ("hate", sigmoid((identity - 0.8) / 0.04)),
            ("abuse", sigmoid((tox - 0.7) / 0.08)),
            ("spam", sigmoid((spam - 0.7) / 0.08)),
            ("off-topic", sigmoid((0.12 - relevance) / 0.07)),
        )
        reason = next((code for code, p in verdicts if rng.random() < p), None)
        round2 = {k: round(v, 3) for k, v in scores.items()}
        specs.append(
            Spec(
                round(tox, 3),
                "reject" if reason else "approve",
                reason or "abuse",
                round2,
                seconds=rng.lognormvariate(3.6, 0.5),
                ago=timedelta(days=rng.uniform(0, 29.5)),
            )
        )
    return specs


def seed_realistic(factory, specs: list[Spec], *, site: str = "default") -> None:
    """``specs``' moderator decisions where a person would have seen the comment: every
    escalated one (a few still waiting), and half of the rules' mistakes (overturned)."""
    ruleset = load_rules(DEFAULT_RULES)
    rng = random.Random(7)
    kept = []
    for spec in specs:
        scores = {"toxicity": spec.toxicity, "relevance": 0.9, "spam": 0.01} | spec.scores
        ctx = EvaluationContext(
            scores=scores, text="A comment.", author_id="u", article=ArticleFacts(id="a1"),
            is_reply=False, created_at=utcnow(), history={q: 0 for q in ruleset.history_queries},
        )  # fmt: skip
        action = ruleset.evaluate(ctx).action.value
        if action == "escalate":
            waiting = rng.random() < 0.04
            kept.append(replace(spec, moderator=None if waiting else spec.moderator))
        elif action != spec.moderator and rng.random() < 0.5:
            kept.append(spec)  # overturned
        else:
            kept.append(replace(spec, moderator=None))
    seed(factory, kept, site=site)


# --- running it -------------------------------------------------------------------------------


def stand_in_scorers():
    """What ``rules test`` gets instead of the real scorers (the text-only inline tests of
    the default rules expect word-list rejections, which no score changes)."""
    return lambda text, title, body, parent: {"toxicity": 0.05, "relevance": 0.9, "spam": 0.01}


@pytest.fixture
def factory(database_url):
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def run(database_url, monkeypatch, capsys):
    """``moderation ARGV...`` in this process on the test database: (exit code, out, err)."""
    monkeypatch.setenv("MODERATION_DATABASE_URL", database_url)
    monkeypatch.setattr(cli, "_rules_score_fn", stand_in_scorers)
    capsys.readouterr()

    def run(*argv: str) -> tuple[int, str, str]:
        get_settings.cache_clear()
        try:
            code = cli.main(list(argv))
        finally:
            get_settings.cache_clear()
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def live(tmp_path: Path) -> Path:
    """A copy of the shipped rules, standing for the live file."""
    shutil.copytree(ROOT / "rules", tmp_path / "live", ignore=shutil.ignore_patterns("*.md"))
    return tmp_path / "live" / "default.yaml"


def the_patch(out: str) -> str:
    start = out.index("--- a/")
    return out[start:]


def apply(patch: str, rules: Path, where: Path) -> Path:
    """``patch`` applied with git to a copy of ``rules``' folder in ``where``, as an operator
    would from the directory calibrate ran in; the patched file."""
    target = where / rules.parent.name
    shutil.copytree(rules.parent, target)
    subprocess.run(["git", "apply", "-p1", "-"], input=patch, text=True, cwd=where, check=True)
    return target / rules.name


def suggested(report: th.CalibrationReport, score: str) -> th.Point | None:
    (fit,) = [f for f in report.fits if f.plan.score == score]
    return fit.suggested


def calibrate(factory, rules: Path = DEFAULT_RULES, site: str = "default", **kwargs):
    with site_session(factory, site) as session:
        return th.calibrate(
            session=session, ruleset=load_rules(rules), rules_path=rules, site=site,
            since=utcnow() - timedelta(days=30), **kwargs,
        )  # fmt: skip


# --- where the thresholds are ----------------------------------------------------------------


def line_of(fragment: str, rule: str) -> int:
    """The line of ``fragment`` in the default rules, the first after rule ``rule``'s id."""
    lines = DEFAULT_RULES.read_text().splitlines()
    start = lines.index(f"  - id: {rule}")
    return next(i for i in range(start, len(lines)) if fragment in lines[i]) + 1


def test_the_default_rules_thresholds_are_grouped_by_score():
    ruleset = load_rules(DEFAULT_RULES)
    plans, notes = th.find_thresholds(ruleset)

    def shown(group):
        return [(t.rule, t.op, t.value, t.line) for t in group]

    def at(rule, op, value, score):
        return (rule, op, value, line_of(f"{{score: {score}, {op}: {value:g}}}", rule))

    by_score = {p.score: p for p in plans}
    assert sorted(by_score) == ["identity_attack", "obscene", "relevance", "spam", "threat",
                                "toxicity"]  # fmt: skip
    tox = by_score["toxicity"]
    assert tox.high_is_bad and tox.reasons == {"abuse"}
    # The exception for swearing moves with the rejection it carves out.
    assert shown(tox.reject) == [at("very-toxic", "gte", 0.85, "toxicity"),
                                 at("untargeted-profanity", "gte", 0.85, "toxicity")]  # fmt: skip
    assert shown(tox.escalate) == [at("borderline-toxicity", "gte", 0.5, "toxicity")]
    rel = by_score["relevance"]
    assert not rel.high_is_bad and rel.reasons == {"off-topic"}
    assert shown(rel.reject) == [at("clearly-off-topic", "lt", 0.05, "relevance")]
    assert shown(rel.escalate) == [at("off-topic", "lt", 0.35, "relevance")]
    # Rejecting on relevance with a link too: not the score's own rejection.
    assert shown(rel.fixed) == [at("off-topic-links", "lt", 0.2, "relevance")]
    threat = by_score["threat"]
    assert threat.reject == ()
    assert shown(threat.escalate) == [at("possible-threat", "gte", 0.9, "threat")]
    assert shown(threat.fixed) == [at("threat", "gte", 0.95, "threat")]
    assert shown(by_score["obscene"].escalate) == [
        at("untargeted-profanity", "gte", 0.5, "obscene")
    ]
    assert notes == [
        "not calibrated, compared only inside not/any or with between: insult, severe_toxicity"
    ]
    text = DEFAULT_RULES.read_text().splitlines()
    for t in (*tox.reject, *tox.escalate, *rel.fixed):
        assert text[t.line - 1][t.column - 1 :].startswith(f"{t.value:g}}}")


def test_the_patch_replaces_only_the_numbers_and_keeps_the_comments():
    ruleset = load_rules(DEFAULT_RULES)
    plans, _ = th.find_thresholds(ruleset)
    tox = next(p for p in plans if p.score == "toxicity")
    changes = {tox.reject[0]: 0.72, tox.reject[1]: 0.72, tox.escalate[0]: 0.55}
    before = ruleset.content.splitlines()
    after = th.patched_text(ruleset.content, changes).splitlines()
    differ = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert differ == [
        ("        - {score: toxicity, gte: 0.85}                      # tune",
         "        - {score: toxicity, gte: 0.72}                      # tune"),
        ("        - {score: toxicity, gte: 0.85}                      # as very-toxic above",
         "        - {score: toxicity, gte: 0.72}                      # as very-toxic above"),
        ("    when: {score: toxicity, gte: 0.5}                       # tune (>= 0.85 rejected "
         "above)",
         "    when: {score: toxicity, gte: 0.55}                      # tune (>= 0.85 rejected "
         "above)"),
    ]  # fmt: skip


# --- the fit ---------------------------------------------------------------------------------


def test_calibrate_finds_the_threshold_the_moderators_keep(factory, run, live, tmp_path,
                                                           monkeypatch):  # fmt: skip
    counts = seed(factory, known_site())
    assert counts == {"approve": 104, "escalate": 272, "reject": 30}
    report = calibrate(factory)
    tox = suggested(report, "toxicity")
    assert tox is not None and (tox.escalate, tox.reject) == (0.5, 0.72)
    assert (tox.escalated, tox.wrong, tox.comments) == (220, 1, 403)
    for score in ("relevance", "spam"):  # every comment at 0.9 and 0.01: nothing to learn
        fit = next(f for f in report.fits if f.plan.score == score)
        assert fit.suggested is not None and fit.changes == {}

    monkeypatch.chdir(tmp_path)
    before = live.read_bytes(), live.stat().st_mtime_ns
    plot = tmp_path / "curve.png"
    code, out, err = run("calibrate", "--rules", "live/default.yaml", "--plot", str(plot))
    assert code == 0, err
    assert (live.read_bytes(), live.stat().st_mtime_ns) == before  # never written
    assert plot.read_bytes().startswith(PNG)
    assert f"trade-off plot written to {plot}" in err

    lines = out.splitlines()
    version = load_rules(live).version[:8]
    assert lines[0].startswith(
        f"Calibration of live/default.yaml (version {version}) on site 'default': comments "
        "received since "
    )
    assert lines[0].endswith(" UTC (30 days)")
    assert lines[1:3] == [
        "  406 with a known answer: 276 moderator decision(s) (272 on escalated comments, "
        "4 overturning the rules), 130 automatic decision(s) nobody overturned; 0 waiting for "
        "review left out",
        "  target: at most 2.0% of the decided comments decided wrongly by the rules (approved "
        "or rejected against the final decision)",
    ]
    table = lines[lines.index("  score                 escalate  reject   escalated  "
                              "wrong (95% interval)  comments") :][:7]  # fmt: skip
    assert table[1:] == [
        "  relevance  current    < 0.35    < 0.05       52.4%      0.0% (0.0%-1.8%)       210",
        "             suggested  unchanged",
        "  spam       current    >= 0.6    >= 0.9       52.4%      0.0% (0.0%-1.8%)       210",
        "             suggested  unchanged",
        "  toxicity   current    >= 0.5    >= 0.85      67.5%      0.2% (0.0%-1.4%)       403",
        "             suggested  >= 0.5    >= 0.72      54.6%      0.2% (0.0%-1.4%)",
    ]
    line = line_of("{score: toxicity, gte: 0.85}", "untargeted-profanity")
    assert f"  toxicity: moved with them: untargeted-profanity >= 0.85 (line {line})" in lines
    assert "  threat: no comment with a known answer has this score; not calibrated" in lines
    assert (
        "  rejections left out of a score's fit, for reasons its rules do not give: "
        "relevance 196, spam 196, toxicity 3"
    ) in lines
    totals = lines[lines.index("  escalated to a person            67.0% (272)     54.2% (220)") :]
    assert totals[:5] == [
        "  escalated to a person            67.0% (272)     54.2% (220)",
        "  wrong automatic decisions           1.0% (4)        1.0% (4)",
        # 52 escalations fewer in 30 days: 12.1 a week, 40 s each.
        "  escalations a week                      63.5            51.3",
        "  moderator hours a week                   0.7             0.6",
        "Moderator time saved: 0.1 hours a week at the current volume (40 s a review: the "
        "median of 272 timed reviews, claim to decision).",
    ]
    assert (
        "The patched file loads and passes its inline tests (26 passed, 0 failed, 0 skipped)."
    ) in lines

    patch = the_patch(out)
    assert patch.startswith("--- a/live/default.yaml\n+++ b/live/default.yaml\n")
    removed = [line for line in patch.splitlines() if line.startswith("-    ") or
               line.startswith("-  ")]  # fmt: skip
    assert len(removed) == 2  # very-toxic and its exception; the escalation stays at 0.5
    patched = apply(patch, live, tmp_path / "copy")
    assert "{score: toxicity, gte: 0.72}" in patched.read_text()
    assert run("rules", "check", str(patched), "--scores", DEFAULT_SCORES)[0] == 0
    code, out, _ = run("rules", "test", str(patched))
    assert code == 0 and "26 passed, 0 failed, 0 skipped" in out


def test_the_command_as_operators_run_it(database_url, factory, live, tmp_path):
    """As a subprocess, as an operator runs it: the rejection lands on 0.72 (within 0.02)."""
    seed(factory, known_site())
    env = {**os.environ, "MODERATION_DATABASE_URL": database_url, "MODERATION_SCORERS": "spam"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "moderation"), "calibrate", "--rules",
         "live/default.yaml", "--since", "30d"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    patch = the_patch(proc.stdout)
    new = [line for line in patch.splitlines() if line.startswith("+ ")]
    values = sorted(float(v.split("gte: ")[1].split("}")[0]) for v in new if "toxicity" in v)
    reject = max(values)
    assert abs(reject - 0.72) <= 0.02
    patched = apply(patch, live, tmp_path / "copy")
    for argv in (["check", str(patched), "--scores", DEFAULT_SCORES], ["test", str(patched)]):
        check = subprocess.run(
            [str(Path(sys.executable).parent / "moderation"), "rules", *argv],
            env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_patch_passes_rules_test_with_the_real_scorers(factory, live, tmp_path, monkeypatch,
                                                           database_url, capsys):  # fmt: skip
    seed(factory, known_site())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODERATION_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        assert cli.main(["calibrate", "--rules", "live/default.yaml"]) == 0
        patched = apply(the_patch(capsys.readouterr().out), live, tmp_path / "copy")
        assert cli.main(["rules", "test", str(patched)]) == 0
    finally:
        get_settings.cache_clear()
    assert "26 passed, 0 failed, 0 skipped" in capsys.readouterr().out


def test_too_few_moderator_decisions_is_refused(factory, run, live):
    seed(factory, [Spec(0.6, "reject")] * 12 + [Spec(0.3)] * 20)
    seed(factory, [Spec(0.6, "reject", ago=timedelta(days=40))] * 60, site="old")  # elsewhere
    code, out, err = run("calibrate", "--rules", str(live))
    assert (code, out) == (1, "")
    assert err == (
        "moderation: error: too few moderator decisions to calibrate: 12 on the comments site "
        "'default' received in the last 30 days; at least 50 are needed (--min-decisions, "
        "--since)\n"
    )
    code, out, err = run("calibrate", "--rules", str(live), "--min-decisions", "10")
    assert out.startswith(f"Calibration of {live} ") and "too few" not in err


def test_each_site_is_calibrated_on_its_own_comments(factory, run, live):
    seed(factory, known_site())
    # Another site, whose moderators reject from 0.60: its ids are the same.
    other = [Spec(round(0.5 + (i % 10) * 0.01, 2), "approve") for i in range(100)]
    other += [Spec(round(0.6 + (i % 25) * 0.01, 2), "reject") for i in range(100)]
    seed(factory, other, site="daily-news")

    mine = calibrate(factory)
    theirs = calibrate(factory, site="daily-news")
    assert (suggested(mine, "toxicity").reject, suggested(theirs, "toxicity").reject) == (0.72, 0.6)
    assert (mine.answers.moderator, theirs.answers.moderator) == (276, 200)

    _, out, _ = run("calibrate", "--rules", str(live), "--site", "daily-news")
    assert "on site 'daily-news'" in out and "200 moderator decision(s)" in out
    assert "+        - {score: toxicity, gte: 0.6} " in out
    code, _, err = run("calibrate", "--rules", str(live), "--site", "nowhere")
    assert (code, err) == (1, "moderation: error: site 'nowhere' does not exist\n")


def test_the_sites_rules_file_is_the_default(factory, run, live):
    seed(factory, known_site())
    with site_session(factory, "default") as session:
        session.get(Site, "default").rules_path = str(live)
        session.commit()
    code, out, err = run("calibrate")
    assert code == 0, err
    assert out.startswith(f"Calibration of {live} ")


def test_seconds_per_review_measured_given_or_assumed(factory):
    specs = known_site()
    seed(factory, specs)
    report = calibrate(factory)
    assert report.seconds_per_review == 40.0
    assert report.seconds_source == "the median of 272 timed reviews, claim to decision"
    assert report.hours_saved == pytest.approx(52 / (30 / 7) * 40 / 3600)

    given = calibrate(factory, seconds_per_review=90)
    assert (given.seconds_per_review, given.seconds_source) == (90, "--seconds-per-review")


def test_without_timed_reviews_a_review_is_taken_as_30_seconds(factory):
    # Decided without claiming first: claim and decision at once, so nothing was timed.
    seed(factory, [Spec(s.toxicity, s.moderator, s.reason, seconds=0.0) for s in known_site()])
    report = calibrate(factory)
    assert report.seconds_per_review == 30.0
    assert report.seconds_source == "the default; fewer than 10 reviews were timed"


def test_when_no_thresholds_reach_the_target_the_current_ones_stay(factory, run, live):
    # Approvals overturned for a reason no rule gives: no threshold can catch them.
    seed(factory, [*known_site(), *[Spec(0.1, "reject", reason="personal-data")] * 20])
    code, out, err = run("calibrate", "--rules", str(live))
    assert code == 0, err
    assert (
        "No thresholds of these scores bring the rules' error down to the target of 2.0% "
        "(now 5.6% (24)): the current ones stay."
    ) in out.splitlines()
    assert "             suggested  unchanged" in out
    assert out.endswith("No threshold to change: no patch.\n")


def test_a_patch_that_breaks_an_inline_test_is_said_to(factory, run, live, tmp_path):
    seed(factory, known_site())
    text = live.read_text().replace(
        "tests:\n",
        "tests:\n  - name: pinned\n    text: a sharp comment\n"
        "    scores: {toxicity: 0.8, relevance: 0.9, spam: 0.01}\n"
        "    expect: {action: escalate, rule: borderline-toxicity}\n",
        1,
    )
    pinned = live.with_name("pinned.yaml")
    pinned.write_text(text)
    code, out, err = run("calibrate", "--rules", str(pinned))
    assert code == 1
    assert "The patched file FAILS its inline tests (26 passed, 1 failed, 0 skipped):" in out
    line = text.splitlines().index("  - name: pinned") + 1
    assert f"{pinned}:{line}: tests[0] (pinned) FAILED" in out
    assert "  + got:      reject by rule very-toxic" in out
    assert "--- a/" in out  # the patch is still shown
    assert err == "moderation: the suggested patch fails its checks (see above)\n"


def test_a_realistic_site(factory, run, live, tmp_path, monkeypatch, database_url):
    seed_realistic(factory, realistic_site(1000))
    monkeypatch.chdir(tmp_path)
    code, out, err = run("calibrate", "--rules", "live/default.yaml", "--plot", "curves.png")
    assert (tmp_path / "curves.png").read_bytes().startswith(PNG)
    assert "Moderator time saved: 0.3 hours a week at the current volume" in out
    # The shipped inline tests pin the edges of the escalation bands (toxicity 0.55, spam
    # 0.7 and relevance 0.3 are expected escalated): a patch that narrows them says so.
    assert code == 1
    assert "The patched file FAILS its inline tests (23 passed, 3 failed, 0 skipped):" in out
    for name in ("possible spam", "likely off-topic", "repeat offender keeps its labels and "
                 "priority"):  # fmt: skip
        assert f": tests[{name_index(name)}] ({name}) FAILED" in out

    # What `rules backtest` makes of the patched copy is what calibrate replayed. (On SQLite
    # only: on a PostgreSQL database without statistics backtest's latest-decision queries
    # take minutes.)
    patched = apply(the_patch(out), live, tmp_path / "copy")
    if not database_url.startswith("sqlite"):
        return
    with site_session(factory, "default") as session:
        replay = bt.backtest(
            session=session, ruleset=load_rules(patched), since=utcnow() - timedelta(days=30)
        )
    (line,) = [x for x in out.splitlines() if x.startswith("  escalated to a person")]
    assert line.endswith(f"({replay.counts('new')['escalate']})")


def name_index(name: str) -> int:
    return [t.spec.name for t in load_rules(DEFAULT_RULES).tests].index(name)


# --- the command line ---------------------------------------------------------------------


def test_calibrate_is_a_command_with_checked_options(capsys):
    parser = cli.build_parser()
    assert "\n    calibrate\n" in parser.format_help()
    args = parser.parse_args(["calibrate"])
    assert (args.since, args.target_error, args.rules, args.site, args.plot) == (
        timedelta(days=30),
        0.02,
        None,
        "default",
        None,
    )
    assert (args.seconds_per_review, args.min_decisions) == (None, th.DEFAULT_MIN_DECISIONS)
    assert args.target_error == th.DEFAULT_TARGET_ERROR
    for argv, message in (
        (["--target-error", "2"], "argument --target-error: '2' is not a share between 0 and 1"),
        (["--seconds-per-review", "0"], "argument --seconds-per-review: '0' is not a positive"),
        (["--since", "soon"], "argument --since: window 'soon' is not a positive duration"),
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(["calibrate", *argv])
        assert message in capsys.readouterr().err


def test_building_the_parser_does_not_import_the_tool():
    code = (
        "import sys; from moderation.cli import build_parser; build_parser(); "
        "print('moderation.offline.thresholds' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
