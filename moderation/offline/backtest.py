"""``moderation rules backtest``: stored comments replayed under another rules file, with the
scores they were given (no re-scoring), compared with what the rules decided at the time.
What the report holds is the command's help (``BACKTEST_DESCRIPTION`` in ``moderation.cli``).

History conditions count the author's other comments by their status now, not as they stood
when each comment was decided.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session, selectinload

from moderation.db.models import Comment, DecidedBy, Decision, utcnow
from moderation.decisions import stored_contexts
from moderation.exceptions import RulesError
from moderation.offline.datasets import read_labels
from moderation.offline.progress import progress_bar
from moderation.policy import Action, EvaluationContext, RuleSet, load_rules
from moderation.rule_stats import DEFAULT_RULE

ACTIONS = tuple(action.value for action in Action)


@dataclass(frozen=True)
class Change:
    comment_id: str
    text: str
    old_action: str
    old_rule: str
    new_action: str
    new_rule: str
    expected: str | None = None


@dataclass(frozen=True)
class Rates:
    """Over the comments whose right answer is known."""

    judged: int
    automatic: int
    errors: int
    escalated: int

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.automatic if self.automatic else None

    @property
    def escalation_rate(self) -> float | None:
        return self.escalated / self.judged if self.judged else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "error_rate": self.error_rate,
            "escalation_rate": self.escalation_rate,
        }


@dataclass
class BacktestReport:
    rules_source: str
    rules_version: str
    since: datetime | None
    until: datetime
    replayed: int
    current_versions: Counter[str]
    table: dict[str, Counter[str]]
    """Current action → new action → count."""
    changes: list[Change]
    truth: str | None = None
    """Where the right answers came from: ``moderator decisions`` or a labels file."""
    old: Rates | None = None
    new: Rates | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return len(self.changes)

    def counts(self, which: str) -> Counter[str]:
        """Actions under the current (``old``) or the new (``new``) rules."""
        out: Counter[str] = Counter()
        for old, row in self.table.items():
            for new, n in row.items():
                out[old if which == "old" else new] += n
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "rules": {"source": self.rules_source, "version": self.rules_version},
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat(),
            "replayed": self.replayed,
            "changed": self.changed,
            "current_versions": dict(self.current_versions),
            "table": {
                old: {new: self.table.get(old, Counter())[new] for new in ACTIONS}
                for old in ACTIONS
            },
            "changes": [asdict(c) for c in self.changes],
            "truth": self.truth,
            "old": self.old.as_dict() if self.old else None,
            "new": self.new.as_dict() if self.new else None,
            "skipped": self.skipped,
        }

    def render(self) -> str:
        lines = [
            f"Backtest of {self.rules_source} (version {self.rules_version[:8]}) on "
            f"{self.replayed} comment(s) received "
            + (f"since {self.since:%Y-%m-%d %H:%M} UTC" if self.since else "at any time"),
            "current decisions by rules version: "
            + (
                ", ".join(f"{v[:8]} ({n})" for v, n in self.current_versions.most_common())
                or "none"
            ),
        ]
        if self.skipped:
            lines.append(
                "skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
            )
        share = f" ({self.changed / self.replayed:.1%})" if self.replayed else ""
        lines += ["", f"{self.changed} of {self.replayed} decision(s) would change{share}", ""]
        lines += _table(self.table)
        if self.changes:
            lines += ["", "Changed decisions:"]
            rows = [
                (c.comment_id, f"{c.old_action} ({c.old_rule})", f"{c.new_action} ({c.new_rule})")
                for c in self.changes
            ]
            widths = [
                max(len(r[i]) for r in [("comment", "current", "new"), *rows]) for i in (0, 1, 2)
            ]
            lines.append(
                f"  {'comment':<{widths[0]}}  {'current':<{widths[1]}}  {'new':<{widths[2]}}  text"
            )
            for change, row in zip(self.changes, rows, strict=True):
                cells = "  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=True))
                lines.append(f"  {cells}  {_snippet(change.text)}")
        if self.old is not None and self.new is not None:
            lines += ["", f"Against {self.old.judged} known answer(s) ({self.truth}):"]
            lines.append(f"  {'':<26}{'current':>18}{'new':>18}")
            lines.append(
                f"  {'automatic decision errors':<26}"
                f"{_rate(self.old.errors, self.old.automatic):>18}"
                f"{_rate(self.new.errors, self.new.automatic):>18}"
            )
            lines.append(
                f"  {'escalated to a person':<26}"
                f"{_rate(self.old.escalated, self.old.judged):>18}"
                f"{_rate(self.new.escalated, self.new.judged):>18}"
            )
        return "\n".join(lines)


def _table(table: Mapping[str, Counter[str]]) -> list[str]:
    head = ["current \\ new", *ACTIONS, "total"]
    rows: list[list[str]] = []
    totals: Counter[str] = Counter()
    for old in ACTIONS:
        counts = table.get(old, Counter())
        totals.update(counts)
        rows.append([old, *(str(counts[new]) for new in ACTIONS), str(sum(counts.values()))])
    rows.append(["total", *(str(totals[new]) for new in ACTIONS), str(sum(totals.values()))])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    out = []
    for row in [head, *rows]:
        out.append(
            "  "
            + f"{row[0]:<{widths[0]}}"
            + "".join(f"  {cell:>{w}}" for cell, w in zip(row[1:], widths[1:], strict=True))
        )
    return out


def _rate(n: int, of: int) -> str:
    return f"{n / of:.1%} ({n}/{of})" if of else "n/a (0/0)"


def _snippet(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return json.dumps(flat if len(flat) <= width else flat[: width - 1] + "…", ensure_ascii=False)


# --- replay -----------------------------------------------------------------------------


def backtest(
    *,
    session: Session,
    ruleset: RuleSet,
    since: datetime | None = None,
    until: datetime | None = None,
    labels: Mapping[str, str] | None = None,
    labels_source: str | None = None,
    progress: bool = False,
) -> BacktestReport:
    """Replay comments received in ``[since, until)`` under ``ruleset``.

    ``labels`` maps comment id → right action; without it, moderators' latest decisions are
    the right answers. ``progress`` shows a bar on stderr (when it is a terminal).
    """
    until = until or utcnow()
    current_ids = _latest_decisions(DecidedBy.RULES, since=since, until=until)
    total = session.scalar(select(func.count()).where(Decision.id.in_(current_ids))) or 0
    stmt = (
        select(Decision)
        .where(Decision.id.in_(current_ids))
        .options(
            selectinload(Decision.comment).selectinload(Comment.scores),
            selectinload(Decision.comment).selectinload(Comment.article),
        )
        .order_by(Decision.comment_id)
        .execution_options(yield_per=500)
    )
    if labels is None:
        truth = _moderator_answers(session, since=since, until=until)
        truth_source = "moderator decisions"
    else:
        truth, truth_source = dict(labels), labels_source or "labels"

    report = BacktestReport(
        rules_source=ruleset.source,
        rules_version=ruleset.version,
        since=since,
        until=until,
        replayed=0,
        current_versions=Counter(),
        table={},
        changes=[],
    )
    old_judged: list[tuple[str, str]] = []
    new_judged: list[tuple[str, str]] = []
    skipped: Counter[str] = Counter()
    with progress_bar("backtest", total, enabled=progress) as bar:
        for part in session.scalars(stmt).partitions():
            with_scores = [d.comment for d in part if d.comment.scores]
            skipped["without stored scores"] += len(part) - len(with_scores)
            # What the rules read beyond each comment, for the whole partition at once.
            contexts = stored_contexts(session, with_scores, ruleset)
            for decision in part:
                ctx = contexts.get(decision.comment.id)
                if ctx is not None:
                    _replay(report, ruleset, decision, ctx, truth, old_judged, new_judged)
            bar.advance(len(part))
    if skipped["without stored scores"] == 0:
        del skipped["without stored scores"]
    report.skipped = dict(skipped)
    if truth:
        report.truth = truth_source
        report.old = _rates(old_judged)
        report.new = _rates(new_judged)
    return report


def _replay(
    report: BacktestReport,
    ruleset: RuleSet,
    decision: Decision,
    ctx: EvaluationContext,
    truth: Mapping[str, str],
    old_judged: list[tuple[str, str]],
    new_judged: list[tuple[str, str]],
) -> None:
    """One comment decided again, its outcome added to ``report`` and the judged lists."""
    comment = decision.comment
    verdict = ruleset.evaluate(ctx)
    old_action, new_action = decision.action, verdict.action.value
    old_rule = decision.rule or DEFAULT_RULE
    new_rule = verdict.rule or DEFAULT_RULE
    report.replayed += 1
    report.current_versions[decision.rules_version or "unknown"] += 1
    report.table.setdefault(old_action, Counter())[new_action] += 1
    expected = truth.get(comment.id)
    if old_action != new_action:
        report.changes.append(
            Change(
                comment_id=comment.id,
                text=comment.text,
                old_action=old_action,
                old_rule=old_rule,
                new_action=new_action,
                new_rule=new_rule,
                expected=expected,
            )
        )
    if expected is not None:
        old_judged.append((old_action, expected))
        new_judged.append((new_action, expected))


def _latest_decisions(
    decided_by: DecidedBy, *, since: datetime | None, until: datetime
) -> ScalarSelect[Any]:
    """The id of each comment's latest decision by ``decided_by``, for comments received in
    ``[since, until)``."""
    latest = (
        select(func.max(Decision.id))
        .join(Comment, Comment.id == Decision.comment_id)
        .where(Decision.decided_by == decided_by.value, Comment.received_at < until)
        .group_by(Decision.comment_id)
    )
    if since is not None:
        latest = latest.where(Comment.received_at >= since)
    return latest.scalar_subquery()


def _moderator_answers(
    session: Session, *, since: datetime | None, until: datetime
) -> dict[str, str]:
    latest = _latest_decisions(DecidedBy.MODERATOR, since=since, until=until)
    rows = session.execute(
        select(Decision.comment_id, Decision.action).where(Decision.id.in_(latest))
    )
    return {cid: action for cid, action in rows}


def _rates(pairs: Iterable[tuple[str, str]]) -> Rates:
    judged = automatic = errors = escalated = 0
    for action, expected in pairs:
        judged += 1
        if action == Action.ESCALATE:
            escalated += 1
            continue
        automatic += 1
        errors += action != expected
    return Rates(judged=judged, automatic=automatic, errors=errors, escalated=escalated)


# --- command ---------------------------------------------------------------------------


def run_backtest(args: argparse.Namespace) -> int:
    """``moderation rules backtest``: print the report (and write it as JSON if asked)."""
    try:
        ruleset = load_rules(args.file)
    except RulesError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 1
    labels = read_labels(args.labels) if args.labels else None
    from moderation.db import make_engine, make_session_factory, site_session
    from moderation.settings import get_settings

    engine = make_engine(get_settings().effective_database_url)
    session_factory = make_session_factory(engine)
    now = utcnow()
    with site_session(session_factory, args.site) as session:
        report = backtest(
            session=session,
            ruleset=ruleset,
            since=now - args.since,
            until=now,
            labels=labels,
            labels_source=str(args.labels) if args.labels else None,
            progress=not args.no_progress,
        )
    engine.dispose()
    print(report.render())
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
        print(f"\nreport written to {args.json}")
    return 0
