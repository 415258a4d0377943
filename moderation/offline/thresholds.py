"""``moderation calibrate``: thresholds learned from moderators' decisions.

For each score the rules compare, the thresholds that keep the share of comments the rules
decide wrongly under a target while sending as few comments to a person as possible. It
reads, for the comments a site received in a window, the final decision (a moderator's on
an escalated or an overturned comment, else the rules' own approve or reject, which nobody
overturned), replays the rules with the stored scores (no re-scoring, as
``rules backtest``) and prints the current and suggested thresholds, what each costs in
escalations and errors, the moderator hours a week the suggestion saves and a patch of the
rules file. It never writes the rules file.

Which numbers move. The thresholds of a score are the ``{score: NAME, gte|gt|lt|lte: X}``
conditions of this file's rejecting and escalating rules that are a rule's whole ``when``
or one of the conditions of its top-level ``all`` (inside ``not`` or ``any`` they stay as
they are). ``gte``/``gt`` mean a high score is bad, ``lt``/``lte`` a low one (relevance).
The *reject threshold* is the one of a rule that rejects on the score alone (else the
loosest rejecting one); every threshold of the score with that value moves with it (an
escalating exception such as "swearing that attacks no one" keeps pace with the rejection it
carves out). The *escalate threshold* is the loosest remaining escalating one, and those
equal to it move with it. The rest stay put and are listed.

How a pair is judged. Each comment is replayed under the rules with the score's reject and
escalate conditions forced true or false (four replays), so the outcome of every candidate
pair is exact, other rules and priorities included. Candidates are 0.00, 0.01, ... 1.00 and
the current values. Error: comments approved or rejected by the rules against the final
decision, as a share of the comments decided; escalation: the share sent to a person.
Rejections whose reason code none of the moved rules gives (a comment rejected as spam, when
calibrating toxicity) are left out of that score's fit.

The target is the rules' error as a whole, not each score's: the errors the suggestions
add are shared between the scores where they save the most escalations (each score takes
the pair with the fewest escalations plus a weight times its errors; the weight is the
smallest that keeps the total within the target; ties go to the pair nearest the current
one). The patch, all suggestions together, is replayed once more, its overshoot (a comment
two scores decide) taken off the budget until it keeps the target, and checked with the
rules loader and the file's inline tests. When no thresholds reach the target, the current
ones stay.

Comments decided automatically that nobody overturned count as decided right: the fit can
narrow the escalation band with confidence, and learns that it should widen only from
overturns.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import re
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from ruamel.yaml import YAML
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from moderation import reasons
from moderation.db.models import AuditEntry, Comment, DecidedBy, utcnow
from moderation.decisions import stored_contexts
from moderation.exceptions import ModerationError, RulesError
from moderation.offline.progress import progress_bar
from moderation.policy import Action, EvaluationContext, RuleSet, load_rules, load_rules_text
from moderation.policy.conditions import AllCondition, ScoreCondition
from moderation.policy.evaluator import iter_conditions
from moderation.policy.testing import ScoreFn, run_inline_tests

if TYPE_CHECKING:
    from moderation.policy.testing import TestOutcome

__all__ = [
    "DEFAULT_MIN_DECISIONS",
    "DEFAULT_SECONDS_PER_REVIEW",
    "DEFAULT_TARGET_ERROR",
    "CalibrationReport",
    "Point",
    "ScoreFit",
    "ScoreThresholds",
    "Threshold",
    "calibrate",
    "find_thresholds",
    "plot_tradeoff",
    "run_calibrate",
]

DEFAULT_TARGET_ERROR = 0.02
"""The share of decided comments the rules may decide wrongly (``--target-error``)."""

DEFAULT_MIN_DECISIONS = 50
"""Moderator decisions in the window below which calibration refuses (``--min-decisions``):
fewer say too little about where the thresholds should be."""

DEFAULT_SECONDS_PER_REVIEW = 30.0
"""A review's cost when too few reviews were timed (``--seconds-per-review`` overrides)."""

MIN_TIMED_REVIEWS = 10
"""Timed reviews (claim to decision) needed before their median is used instead of
``DEFAULT_SECONDS_PER_REVIEW``."""

MIN_REVIEW_SECONDS = 1.0
"""A decision taken less than this after its claim was not timed: deciding without claiming
first claims and decides at once."""

MAX_REFITS = 8
"""Times the budget is cut when the patch, replayed whole, overshoots the target."""

GRID = tuple(round(i / 100, 2) for i in range(101))
"""Candidate thresholds (with the current ones): two decimals, as people write them."""

_OPS = {"gte": ">=", "gt": ">", "lt": "<", "lte": "<="}
_HIGH_IS_BAD = ("gte", "gt")
_SIDES = (Action.REJECT.value, Action.ESCALATE.value)
_ZONE_ESCALATE = "__calibrate_escalate__"
_ZONE_REJECT = "__calibrate_reject__"
_APPROVE, _REJECT, _ESCALATE = 0, 1, 2
_CODE = {Action.APPROVE.value: _APPROVE, Action.REJECT.value: _REJECT}
_Z95 = 1.959963984540054


# --- the thresholds of a rules file -----------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    """One ``{score: NAME, OP: VALUE}`` of a rejecting or escalating rule."""

    score: str
    rule: str
    action: str
    op: str
    value: float
    line: int
    """1-based, of the number in the file (so is ``column``)."""
    column: int
    score_at: tuple[int, int]
    """0-based line and column of the score's name (where a replay swaps it)."""
    whole: bool
    """The condition is the rule's whole ``when`` (not one of an ``all``)."""

    @property
    def high_is_bad(self) -> bool:
        return self.op in _HIGH_IS_BAD

    def describe(self) -> str:
        return f"{self.rule} {_OPS[self.op]} {self.value:g} (line {self.line})"


@dataclass(frozen=True)
class ScoreThresholds:
    """A score's thresholds as calibration moves them: ``reject`` together to one value,
    ``escalate`` together to another, ``fixed`` never."""

    score: str
    high_is_bad: bool
    reject: tuple[Threshold, ...]
    escalate: tuple[Threshold, ...]
    fixed: tuple[Threshold, ...]
    reasons: frozenset[str]
    """Reason codes of the rules whose thresholds move: rejections with another code are
    left out of the score's fit."""

    @property
    def current_reject(self) -> float | None:
        return self.reject[0].value if self.reject else None

    @property
    def current_escalate(self) -> float | None:
        return self.escalate[0].value if self.escalate else None

    def op(self, side: str) -> str:
        group = self.reject if side == Action.REJECT.value else self.escalate
        return _OPS[group[0].op] if group else ""


def find_thresholds(ruleset: RuleSet) -> tuple[list[ScoreThresholds], list[str]]:
    """The scores ``ruleset``'s own file compares, each with its thresholds grouped; and
    notes on the scores it cannot calibrate."""
    root = YAML(typ="rt").load(ruleset.content)
    raw_rules = root.get("rules") if isinstance(root, dict) else None
    own = {r.id: r for r in ruleset.rules if r.source == ruleset.source}
    found: dict[str, list[Threshold]] = {}
    nested: set[str] = set()
    seen: set[tuple[int, int]] = set()
    for raw in raw_rules or ():
        rule = own.get(str(raw.get("id"))) if isinstance(raw, dict) else None
        if rule is None or rule.spec.action not in _SIDES:
            continue
        when = rule.spec.when
        for cond, loc in iter_conditions(when, ()):
            if not isinstance(cond, ScoreCondition):
                continue
            comparisons = cond.comparisons()
            op = next(iter(comparisons)) if len(comparisons) == 1 else "between"
            top = loc == () or (isinstance(when, AllCondition) and len(loc) == 2)
            if op not in _OPS or not top:
                nested.add(cond.score)
                continue
            node = raw["when"]
            for part in loc:
                node = node[part]
            line, column = node.lc.value(op)
            name_line, name_column = node.lc.value("score")
            if (line, column) in seen:  # the same mapping through a YAML alias
                continue
            seen.add((line, column))
            found.setdefault(cond.score, []).append(
                Threshold(
                    score=cond.score,
                    rule=rule.id,
                    action=rule.spec.action,
                    op=op,
                    value=float(comparisons[op]),  # type: ignore[arg-type]
                    line=line + 1,
                    column=column + 1,
                    score_at=(name_line, name_column),
                    whole=loc == (),
                )
            )
    plans: list[ScoreThresholds] = []
    notes: list[str] = []
    for score in sorted(found):
        thresholds = found[score]
        if len({t.high_is_bad for t in thresholds}) > 1:
            notes.append(f"{score}: compared both ways (high and low is bad); not calibrated")
            continue
        plans.append(_group(score, thresholds, ruleset))
    left = sorted(nested - set(found))
    if left:
        notes.append(
            "not calibrated, compared only inside not/any or with between: " + ", ".join(left)
        )
    return plans, notes


def _group(score: str, thresholds: list[Threshold], ruleset: RuleSet) -> ScoreThresholds:
    high = thresholds[0].high_is_bad
    loosest = min if high else max

    def primary(pool: list[Threshold]) -> float | None:
        if not pool:
            return None
        return loosest(t.value for t in [t for t in pool if t.whole] or pool)

    reject_at = primary([t for t in thresholds if t.action == Action.REJECT.value])
    reject = [t for t in thresholds if reject_at is not None and t.value == reject_at]
    rest = [t for t in thresholds if t not in reject and t.action == Action.ESCALATE.value]
    escalate_at = primary(rest)
    escalate = [t for t in rest if t.value == escalate_at]
    fixed = [t for t in thresholds if t not in reject and t not in escalate]
    # What the moved rules reject for (a rule without a code stores the fallback; so does a
    # moderator's rejection of what it escalated); a fixed rule's code is not the score's.
    codes = {ruleset.rule(t.rule).spec.reason or reasons.FALLBACK for t in reject + escalate}
    return ScoreThresholds(
        score, high, tuple(reject), tuple(escalate), tuple(fixed), frozenset(codes)
    )


# --- editing the file: numbers replaced where they stand ----------------------------------------

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_SCALAR = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'|[^\s,{}\[\]#]+")
_BEFORE_COMMENT = re.compile(r" {2,}(?=#)")


def _edit(text: str, edits: Iterable[tuple[int, int, re.Pattern[str], str]]) -> str:
    """``text`` with the token matching ``pattern`` at each 0-based (line, column) replaced;
    a ``# comment`` further on the line keeps its column where the spaces allow."""
    lines = text.splitlines(keepends=True)
    by_line: dict[int, list[tuple[int, re.Pattern[str], str]]] = {}
    for line, column, pattern, new in edits:
        by_line.setdefault(line, []).append((column, pattern, new))
    for line, items in by_line.items():
        out = lines[line]
        for column, pattern, new in sorted(items, key=lambda item: -item[0]):
            match = pattern.match(out, column)
            if match is None:
                raise ValueError(f"line {line + 1}, column {column + 1}: no value to replace")
            rest = out[match.end() :]
            grown = len(new) - len(match.group(0))
            gap = _BEFORE_COMMENT.search(rest)
            if grown and gap is not None:
                spaces = max(2, len(gap.group(0)) - grown)
                rest = rest[: gap.start()] + " " * spaces + rest[gap.end() :]
            out = out[:column] + new + rest
        lines[line] = out
    return "".join(lines)


def _number(value: float) -> str:
    return f"{value:g}"


def patched_text(text: str, changes: Mapping[Threshold, float]) -> str:
    """The rules text with each threshold's number replaced; nothing else changes."""
    return _edit(
        text, ((t.line - 1, t.column - 1, _NUMBER, _number(v)) for t, v in changes.items())
    )


def _zone_text(text: str, plan: ScoreThresholds) -> str:
    """The rules text with the score's escalate and reject conditions reading two stand-in
    scores, so that a replay can make each group hold or not as it pleases."""
    edits = []
    for group, name in ((plan.escalate, _ZONE_ESCALATE), (plan.reject, _ZONE_REJECT)):
        for t in group:
            edits.append((t.score_at[0], t.score_at[1], _SCALAR, name))
            edits.append((t.line - 1, t.column - 1, _NUMBER, "0.5"))
    return _edit(text, edits)


def _stand_in(holds: bool, high_is_bad: bool) -> float:
    """The stand-in score that makes a ``gte``/``gt 0.5`` (or ``lt``/``lte 0.5``) hold."""
    return 1.0 if holds == high_is_bad else 0.0


# --- what the comments say -------------------------------------------------------------------


@dataclass(frozen=True)
class _Replay:
    comment_id: str
    ctx: EvaluationContext
    label: int | None
    """``_APPROVE`` or ``_REJECT``: the final decision; None while it waits for review."""
    reason: str
    """A rejection's reason code (``reasons.FALLBACK`` for one stored without)."""


@dataclass
class _Answers:
    replays: list[_Replay] = field(default_factory=list)
    escalated: int = 0
    """Moderator decisions on comments the rules escalated."""
    overturned: int = 0
    """Moderator decisions that overturned an automatic approve or reject."""
    automatic: int = 0
    pending: int = 0

    @property
    def moderator(self) -> int:
        return self.escalated + self.overturned


def _read(session: Session, ruleset: RuleSet, since: datetime, until: datetime) -> _Answers:
    answers = _Answers()
    stmt = (
        select(Comment)
        .where(Comment.received_at >= since, Comment.received_at < until)
        .options(
            selectinload(Comment.scores),
            selectinload(Comment.article),
            selectinload(Comment.decisions),
        )
        .order_by(Comment.id)
        .execution_options(yield_per=500)
    )
    for part in session.scalars(stmt).partitions():
        comments = [c for c in part if c.scores and c.decisions]
        # The partition's history counts, reports and author statuses in one query each.
        contexts = stored_contexts(session, comments, ruleset)
        for comment in comments:
            answers.replays.append(_answer(answers, comment, contexts[comment.id]))
    return answers


def _answer(answers: _Answers, comment: Comment, ctx: EvaluationContext) -> _Replay:
    decisions = comment.decisions
    moderated = [i for i, d in enumerate(decisions) if d.decided_by == DecidedBy.MODERATOR.value]
    if moderated:
        final = decisions[moderated[-1]]
        before = decisions[moderated[-1] - 1] if moderated[-1] else None
        if before is not None and before.action == Action.ESCALATE.value:
            answers.escalated += 1
        else:
            answers.overturned += 1
    else:
        final = decisions[-1]
        if final.action not in _CODE:
            answers.pending += 1
            return _Replay(comment.id, ctx, None, "")
        answers.automatic += 1
    return _Replay(comment.id, ctx, _CODE[final.action], final.reason_code or reasons.FALLBACK)


def _seconds_per_review(session: Session, since: datetime) -> tuple[float, int] | None:
    """The median time from claim to decision of the reviews decided since ``since`` (and
    how many were timed), or None when fewer than ``MIN_TIMED_REVIEWS`` were."""
    rows = session.execute(
        select(
            AuditEntry.subject_id,
            AuditEntry.actor,
            AuditEntry.action,
            AuditEntry.at,
            AuditEntry.detail,
        )
        .where(
            AuditEntry.subject_type == "comment",
            AuditEntry.action.in_(("review.claim", "review.decide")),
            AuditEntry.at >= since - timedelta(days=1),
        )
        .order_by(AuditEntry.id)
    )
    claimed: dict[tuple[str, str], datetime] = {}
    seconds: list[float] = []
    for comment_id, actor, action, at, detail in rows:
        if action == "review.claim":
            claimed[(comment_id, actor)] = at
            continue
        start = claimed.pop((comment_id, actor), None)
        if start is None or at < since or (detail or {}).get("bulk"):
            continue
        took = (at - start).total_seconds()
        if took >= MIN_REVIEW_SECONDS:
            seconds.append(took)
    if len(seconds) < MIN_TIMED_REVIEWS:
        return None
    return statistics.median(seconds), len(seconds)


# --- the fit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """A pair of thresholds and what it does to the comments of a fit."""

    escalate: float | None
    reject: float | None
    escalated: int
    wrong: int
    comments: int

    @property
    def escalation_rate(self) -> float:
        return self.escalated / self.comments if self.comments else 0.0

    @property
    def error_rate(self) -> float:
        return self.wrong / self.comments if self.comments else 0.0

    @property
    def error_interval(self) -> tuple[float, float]:
        """Wilson's 95% interval of the error rate."""
        return _wilson(self.wrong, self.comments)


def _wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p, z2 = k / n, _Z95 * _Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class ScoreFit:
    plan: ScoreThresholds
    comments: int
    left_out: Counter[str]
    """Rejections left out of the fit, by reason code."""
    current: Point | None = None
    """None when no comment with a known answer has the score."""
    suggested: Point | None = None
    curve: list[tuple[float, float]] = field(default_factory=list)
    """The trade-off: (escalation rate, lowest error at it), escalation rising."""

    @property
    def changes(self) -> dict[Threshold, float]:
        """Each moved threshold's new value."""
        out: dict[Threshold, float] = {}
        if self.suggested is None:
            return out
        for group, value in (
            (self.plan.escalate, self.suggested.escalate),
            (self.plan.reject, self.suggested.reject),
        ):
            for t in group:
                if value is not None and value != t.value:
                    out[t] = value
        return out


Matrix = npt.NDArray[np.float64]


def _grid(current: float | None) -> list[float | None]:
    if current is None:
        return [None]
    return [*sorted({*GRID, current})]


def _beyond(values: npt.NDArray[np.float64], grid: list[float | None], op: str) -> Matrix:
    """``beyond[n, k]``: comment n's value passes threshold k (1.0) or not (0.0)."""
    if grid == [None]:
        return np.zeros((len(values), 1))
    at = np.array(grid, dtype=np.float64)[None, :]
    v = values[:, None]
    passes = {"gte": v >= at, "gt": v > at, "lt": v < at, "lte": v <= at}[op]
    return passes.astype(np.float64)


@dataclass
class _Candidates:
    """Every pair of thresholds of one score and what it does to the score's fit: counts of
    wrong and escalated comments, ``[escalate index, reject index]``."""

    fit: ScoreFit
    grid_e: list[float | None]
    grid_r: list[float | None]
    wrong: Matrix
    escalated: Matrix
    valid: npt.NDArray[np.bool_]
    distance: Matrix
    current: tuple[int, int]

    def point(self, at: tuple[int, int]) -> Point:
        i, j = at
        return Point(
            self.grid_e[i],
            self.grid_r[j],
            int(self.escalated[i, j]),
            int(self.wrong[i, j]),
            self.fit.comments,
        )

    def added_errors(self, at: tuple[int, int]) -> int:
        return int(self.wrong[at] - self.wrong[self.current])

    def pick(self, weight: float | None) -> tuple[int, int]:
        """The pair with the fewest escalations plus ``weight`` times the errors (None: the
        fewest errors, then escalations); ties go to the one nearest the current pair."""
        first = self.wrong if weight is None else self.escalated + weight * self.wrong
        then = self.escalated if weight is None else self.wrong
        keys = np.lexsort((self.distance[self.valid], then[self.valid], first[self.valid]))
        i, j = np.argwhere(self.valid)[keys[0]]
        return int(i), int(j)


def _candidates(plan: ScoreThresholds, zone: RuleSet, replays: Sequence[_Replay]) -> _Candidates:
    high = plan.high_is_bad
    left_out: Counter[str] = Counter()
    fit: list[_Replay] = []
    for r in replays:
        if r.label is None or plan.score not in r.ctx.scores:
            continue
        if r.label == _REJECT and r.reason not in plan.reasons:
            left_out[r.reason] += 1
            continue
        fit.append(r)
    values = np.array([r.ctx.scores[plan.score] for r in fit], dtype=np.float64)
    labels = np.array([r.label for r in fit])
    grid_e, grid_r = _grid(plan.current_escalate), _grid(plan.current_reject)
    e_op = plan.escalate[0].op if plan.escalate else "gte"
    r_op = plan.reject[0].op if plan.reject else "gte"
    beyond_e, beyond_r = _beyond(values, grid_e, e_op), _beyond(values, grid_r, r_op)
    wrong = np.zeros((len(grid_e), len(grid_r)))
    escalated = np.zeros((len(grid_e), len(grid_r)))
    e_at = np.array([np.nan if v is None else v for v in grid_e])[:, None]
    r_at = np.array([np.nan if v is None else v for v in grid_r])[None, :]
    # The escalation band lies between the two: escalate at or before the rejection.
    with np.errstate(invalid="ignore"):
        order_ok = (e_at <= r_at) if high else (e_at >= r_at)
    valid = order_ok | np.isnan(e_at) | np.isnan(r_at)
    current = (grid_e.index(plan.current_escalate), grid_r.index(plan.current_reject))
    # A comment past the rejection but not the escalation exists only for pairs out of order:
    # replayed only when the file's own pair is (else it decides as past both).
    skip_mixed = bool(valid[current])
    replayed: dict[tuple[bool, bool], npt.NDArray[np.int64]] = {}
    for e_holds in (False, True) if plan.escalate else (False,):
        for r_holds in (False, True) if plan.reject else (False,):
            if skip_mixed and r_holds and not e_holds:
                continue
            replayed[(e_holds, r_holds)] = np.array(
                [_replay(zone, r.ctx, e_holds, r_holds, high) for r in fit], dtype=np.int64
            )
    if plan.escalate and plan.reject and skip_mixed:
        replayed[(False, True)] = replayed[(True, True)]
    for (e_holds, r_holds), actions in replayed.items():
        is_wrong = ((actions != _ESCALATE) & (actions != labels)).astype(np.float64)
        is_escalated = (actions == _ESCALATE).astype(np.float64)
        in_e = beyond_e if e_holds else 1.0 - beyond_e
        in_r = beyond_r if r_holds else 1.0 - beyond_r
        wrong += in_e.T @ (is_wrong[:, None] * in_r)
        escalated += in_e.T @ (is_escalated[:, None] * in_r)
    wrong, escalated = np.rint(wrong), np.rint(escalated)
    distance = np.nan_to_num(np.abs(e_at - (plan.current_escalate or 0.0))) + np.nan_to_num(
        np.abs(r_at - (plan.current_reject or 0.0))
    )
    result = _Candidates(
        ScoreFit(plan, len(fit), left_out),
        grid_e,
        grid_r,
        wrong,
        escalated,
        valid,
        distance,
        current,
    )
    result.fit.current = result.point(current)
    n = max(1, len(fit))
    best = math.inf
    for esc, err in sorted(zip(escalated[valid] / n, wrong[valid] / n, strict=True)):
        if err < best:
            result.fit.curve.append((float(esc), float(err)))
            best = err
    return result


def _allocate(cands: Sequence[_Candidates], budget: float) -> list[tuple[int, int]] | None:
    """One pair per score: the fewest escalations in all whose added errors stay within
    ``budget`` (a Lagrangian split of the budget between the scores); None when no pairs do."""

    def choose(weight: float | None) -> tuple[list[tuple[int, int]], int]:
        picks = [c.pick(weight) for c in cands]
        return picks, sum(c.added_errors(p) for c, p in zip(cands, picks, strict=True))

    picks, added = choose(0.0)
    if added <= budget:
        return picks
    if choose(None)[1] > budget:
        return None
    # Past this weight an error outweighs every escalation: the fewest errors first.
    low, high = 0.0, 2.0 * (1 + max(c.fit.comments for c in cands))
    for _ in range(60):
        middle = (low + high) / 2
        if choose(middle)[1] <= budget:
            high = middle
        else:
            low = middle
    return choose(high)[0]


def _replay(zone: RuleSet, ctx: EvaluationContext, e_holds: bool, r_holds: bool, high: bool) -> int:
    scores = dict(ctx.scores)
    scores[_ZONE_ESCALATE] = _stand_in(e_holds, high)
    scores[_ZONE_REJECT] = _stand_in(r_holds, high)
    return _action(zone, dataclasses.replace(ctx, scores=scores))


def _action(ruleset: RuleSet, ctx: EvaluationContext) -> int:
    action = ruleset.evaluate(ctx).action.value
    return _CODE.get(action, _ESCALATE)


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    """All comments replayed under one rules file: escalations among all of them, errors
    among those with a known answer."""

    replayed: int
    escalated: int
    answered: int
    wrong: int


@dataclass
class CalibrationReport:
    rules_source: str
    rules_version: str
    site: str
    since: datetime
    until: datetime
    target: float
    answers: _Answers
    fits: list[ScoreFit]
    notes: list[str]
    current: Totals
    suggested: Totals
    seconds_per_review: float
    seconds_source: str
    patch: str
    """A unified diff of the rules file; empty when nothing would change."""
    check: list[str]
    """What loading the patched file and running its inline tests said."""
    check_passed: bool
    reachable: bool = True
    """Whether some thresholds keep the target; when none do, the current ones stay."""

    @property
    def weeks(self) -> float:
        return (self.until - self.since).total_seconds() / timedelta(weeks=1).total_seconds()

    def hours_a_week(self, totals: Totals) -> float:
        return totals.escalated / self.weeks * self.seconds_per_review / 3600

    @property
    def hours_saved(self) -> float:
        return self.hours_a_week(self.current) - self.hours_a_week(self.suggested)

    def render(self) -> str:
        a = self.answers
        lines = [
            f"Calibration of {self.rules_source} (version {self.rules_version[:8]}) on site "
            f"{self.site!r}: comments received since {self.since:%Y-%m-%d %H:%M} UTC "
            f"({_span(self.until - self.since)})",
            f"  {a.moderator + a.automatic} with a known answer: {a.moderator} moderator "
            f"decision(s) ({a.escalated} on escalated comments, {a.overturned} overturning "
            f"the rules), {a.automatic} automatic decision(s) nobody overturned; "
            f"{a.pending} waiting for review left out",
            f"  target: at most {self.target:.1%} of the decided comments decided wrongly by "
            "the rules (approved or rejected against the final decision)",
            "",
        ]
        lines += self._table()
        notes = [note for fit in self.fits for note in _fit_notes(fit)]
        left_out = [f"{f.plan.score} {sum(f.left_out.values())}" for f in self.fits if f.left_out]
        if left_out:
            notes.append(
                "rejections left out of a score's fit, for reasons its rules do not give: "
                + ", ".join(left_out)
            )
        notes += self.notes
        if notes:
            lines += [""] + [f"  {note}" for note in notes]
        lines += ["", *self._totals()]
        lines += ["", *self.check]
        if self.patch:
            lines += [
                "",
                "The rules file itself is unchanged. Apply the patch to a copy (git apply, "
                "or patch -p1, from this directory) and check it with `moderation rules "
                "backtest`:",
                "",
                self.patch.rstrip("\n"),
            ]
        else:
            lines += ["", "No threshold to change: no patch."]
        return "\n".join(lines)

    def _table(self) -> list[str]:
        head = ("score", "", "escalate", "reject", "escalated", "wrong (95% interval)", "comments")
        rows: list[tuple[str, ...]] = []
        for fit in self.fits:
            plan = fit.plan
            if fit.current is None:
                continue
            rows.append(
                (plan.score, "current", *_thresholds(plan, fit.current), *_rates(fit.current),
                 str(fit.comments))
            )  # fmt: skip
            if fit.suggested is None or not fit.changes:
                rows.append(("", "suggested", "unchanged", "", "", "", ""))
            else:
                rows.append(
                    ("", "suggested", *_thresholds(plan, fit.suggested),
                     *_rates(fit.suggested), "")
                )  # fmt: skip
        if not rows:
            return ["No score with stored values to calibrate."]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        # A long "unchanged" note spans the columns after it.
        widths[2] = max(len(r[2]) for r in [head, *rows] if r[3] or r is head)
        out = []
        for row in [head, *rows]:
            cells = [f"{c:<{w}}" for c, w in zip(row[:4], widths[:4], strict=True)]
            cells += [f"{c:>{w}}" for c, w in zip(row[4:], widths[4:], strict=True)]
            out.append("  " + "  ".join(cells).rstrip())
        return out

    def _totals(self) -> list[str]:
        cur, sug = self.current, self.suggested
        weeks = self.weeks
        lines = [
            f"All suggestions together, replayed on the {cur.replayed} comment(s) "
            f"({cur.answered} with a known answer):",
            f"  {'':<28}{'current':>16}{'suggested':>16}",
            f"  {'escalated to a person':<28}{_share(cur.escalated, cur.replayed):>16}"
            f"{_share(sug.escalated, sug.replayed):>16}",
            f"  {'wrong automatic decisions':<28}{_share(cur.wrong, cur.answered):>16}"
            f"{_share(sug.wrong, sug.answered):>16}",
            f"  {'escalations a week':<28}{cur.escalated / weeks:>16.1f}"
            f"{sug.escalated / weeks:>16.1f}",
            f"  {'moderator hours a week':<28}{self.hours_a_week(cur):>16.1f}"
            f"{self.hours_a_week(sug):>16.1f}",
            f"Moderator time saved: {self.hours_saved:.1f} hours a week at the current volume "
            f"({self.seconds_per_review:.0f} s a review: {self.seconds_source}).",
        ]
        if not self.reachable:
            lines.append(
                f"No thresholds of these scores bring the rules' error down to the target of "
                f"{self.target:.1%} (now {_share(cur.wrong, cur.answered)}): the current ones "
                "stay."
            )
        elif sug.answered and sug.wrong / sug.answered > self.target:
            lines.append(
                f"Note: together the suggestions decide {sug.wrong / sug.answered:.1%} wrongly, "
                f"over the target of {self.target:.1%}."
            )
        return lines


def _thresholds(plan: ScoreThresholds, point: Point) -> tuple[str, str]:
    escalate = "" if point.escalate is None else f"{plan.op('escalate')} {point.escalate:g}"
    reject = "" if point.reject is None else f"{plan.op('reject')} {point.reject:g}"
    return escalate or "-", reject or "-"


def _rates(point: Point) -> tuple[str, str]:
    low, high = point.error_interval
    return (
        f"{point.escalation_rate:.1%}",
        f"{point.error_rate:.1%} ({low:.1%}-{high:.1%})",
    )


def _share(n: int, of: int) -> str:
    return f"{n / of:.1%} ({n})" if of else "n/a"


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds / 86400:.1f} days"


def _fit_notes(fit: ScoreFit) -> list[str]:
    plan, notes = fit.plan, []
    if fit.current is None:
        return [f"{plan.score}: no comment with a known answer has this score; not calibrated"]
    if fit.suggested is not None and fit.suggested.escalated > fit.current.escalated:
        notes.append(
            f"{plan.score}: the current thresholds decide {fit.current.error_rate:.1%} "
            "wrongly, over the target: the suggestion escalates more"
        )
    moved = [*plan.escalate[1:], *plan.reject[1:]]
    if moved and fit.changes:
        notes.append(f"{plan.score}: moved with them: " + ", ".join(t.describe() for t in moved))
    if plan.fixed:
        notes.append(
            f"{plan.score}: left as they are: " + ", ".join(t.describe() for t in plan.fixed)
        )
    return notes


# --- calibrate ---------------------------------------------------------------------------


def calibrate(
    *,
    session: Session,
    ruleset: RuleSet,
    rules_path: Path,
    site: str,
    since: datetime,
    until: datetime | None = None,
    target: float = DEFAULT_TARGET_ERROR,
    min_decisions: int = DEFAULT_MIN_DECISIONS,
    seconds_per_review: float | None = None,
    build_score_fn: Callable[[], ScoreFn] | None = None,
    progress: bool = False,
) -> CalibrationReport:
    """Fit ``ruleset``'s thresholds to the final decisions of the comments received in
    ``[since, until)`` (``session`` is the site's). ``ModerationError`` when fewer than
    ``min_decisions`` of them are moderators'. ``build_score_fn`` builds the real scorers
    for the patched file's text-only inline tests (without it they are skipped); ``progress``
    shows a bar on stderr."""
    until = until or utcnow()
    plans, notes = find_thresholds(ruleset)
    answers = _read(session, ruleset, since, until)
    if answers.moderator < min_decisions:
        raise ModerationError(
            f"too few moderator decisions to calibrate: {answers.moderator} on the comments "
            f"site {site!r} received in the last {_span(until - since)}; at least "
            f"{min_decisions} are needed (--min-decisions, --since)"
        )
    if seconds_per_review is not None:
        seconds, source = seconds_per_review, "--seconds-per-review"
    else:
        timed = _seconds_per_review(session, since)
        if timed is None:
            seconds = DEFAULT_SECONDS_PER_REVIEW
            source = f"the default; fewer than {MIN_TIMED_REVIEWS} reviews were timed"
        else:
            seconds = timed[0]
            source = f"the median of {timed[1]} timed reviews, claim to decision"

    base_dir = rules_path.parent
    fits, cands = [], []
    with progress_bar("calibrate", len(plans), unit="scores", enabled=progress) as bar:
        for plan in plans:
            zone = load_rules_text(
                _zone_text(ruleset.content, plan), source=ruleset.source, base_dir=base_dir
            )
            found = _candidates(plan, zone, answers.replays)
            fits.append(found.fit)
            if found.fit.comments:
                cands.append(found)
            else:
                found.fit.current = None
            bar.advance()

    current = _totals(ruleset, answers.replays)
    allowed = target * current.answered + 1e-9
    budget = allowed - current.wrong
    reachable, text, suggested, patched = True, ruleset.content, current, ruleset
    # Scores fitted apart can add up to more (a comment two of them decide): replay the
    # patch, and take what it overshoots off the budget until it keeps the target.
    for _ in range(MAX_REFITS):
        picks = _allocate(cands, budget) if cands else []
        if picks is None:
            reachable, picks = False, [c.current for c in cands]
        for found, at in zip(cands, picks, strict=True):
            found.fit.suggested = found.point(at)
        changes = {t: v for fit in fits for t, v in fit.changes.items()}
        text = patched_text(ruleset.content, changes)
        try:
            patched = load_rules_text(text, source=ruleset.source, base_dir=base_dir)
        except RulesError as exc:  # pragma: no cover - numbers in [0, 1] replace numbers
            raise ModerationError(
                "the patched rules file does not load, so there is no patch:\n" + str(exc)
            ) from exc
        suggested = _totals(patched, answers.replays)
        if not reachable or suggested.wrong <= allowed:
            break
        budget -= max(1.0, suggested.wrong - allowed)
    check, passed = _check(patched, ruleset, build_score_fn)
    return CalibrationReport(
        rules_source=ruleset.source,
        rules_version=ruleset.version,
        site=site,
        since=since,
        until=until,
        target=target,
        answers=answers,
        fits=fits,
        notes=notes,
        current=current,
        suggested=suggested,
        seconds_per_review=seconds,
        seconds_source=source,
        patch=_diff(ruleset.content, text, rules_path) if changes else "",
        check=check,
        check_passed=passed,
        reachable=reachable,
    )


def _totals(ruleset: RuleSet, replays: Sequence[_Replay]) -> Totals:
    escalated = answered = wrong = 0
    for r in replays:
        action = _action(ruleset, r.ctx)
        escalated += action == _ESCALATE
        if r.label is not None:
            answered += 1
            wrong += action != _ESCALATE and action != r.label
    return Totals(len(replays), escalated, answered, wrong)


def _check(
    patched: RuleSet, ruleset: RuleSet, build_score_fn: Callable[[], ScoreFn] | None
) -> tuple[list[str], bool]:
    """Run the patched file's inline tests: what to print, whether they passed."""
    if patched.content == ruleset.content:
        return [], True
    needs_scorers = any(t.needs_real_scores for t in patched.tests)
    score_fn = build_score_fn() if needs_scorers and build_score_fn is not None else None
    outcomes: list[TestOutcome] = run_inline_tests(patched, score_fn)
    counts = Counter(o.status for o in outcomes)
    summary = f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    if counts["failed"]:
        lines = [f"The patched file FAILS its inline tests ({summary}):"]
        lines += [o.render() for o in outcomes if o.failed]
        lines.append("Change those tests or the thresholds before applying the patch.")
        return lines, False
    return [f"The patched file loads and passes its inline tests ({summary})."], True


def _diff(old: str, new: str, path: Path) -> str:
    try:
        shown = path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        shown = path.as_posix()
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{shown}",
            tofile=f"b/{shown}",
        )
    )


# --- the plot --------------------------------------------------------------------------------


def plot_tradeoff(report: CalibrationReport, path: Path) -> None:
    """Escalation rate against error, one panel per score, the current and suggested
    thresholds marked and the target drawn; written as PNG to ``path``."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # a dev dependency (make install has it; a bare pip install not)
        raise ModerationError(
            f"--plot needs matplotlib ({exc}): pip install matplotlib, or leave out --plot"
        ) from exc

    fitted = [f for f in report.fits if f.current is not None]
    # A score whose curve is one point has no trade-off to draw.
    fits = [f for f in fitted if len(f.curve) > 1 or f.changes] or fitted
    columns = len(fits) if len(fits) <= 3 else math.ceil(math.sqrt(len(fits)))
    rows = max(1, math.ceil(len(fits) / max(1, columns)))
    columns = max(1, columns)
    figure = Figure(figsize=(4.6 * columns, 3.6 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, fit in zip(axes, fits, strict=False):
        assert fit.current is not None
        xs = [100 * x for x, _ in fit.curve]
        ys = [100 * y for _, y in fit.curve]
        ax.step(xs, ys, where="post", color="#4a6fa5", label="lowest error at each escalation")
        ax.axhline(100 * report.target, color="#c0392b", linestyle="--", linewidth=1,
                   label=f"target, all scores together: {report.target:.1%}")  # fmt: skip
        cur = fit.current
        ax.plot(100 * cur.escalation_rate, 100 * cur.error_rate, "o", color="#555555",
                markersize=8, label=f"current {_pair(fit.plan, cur)}")  # fmt: skip
        if fit.suggested is not None:
            sug = fit.suggested
            ax.plot(100 * sug.escalation_rate, 100 * sug.error_rate, "*", color="#e67e22",
                    markersize=14, label=f"suggested {_pair(fit.plan, sug)}")  # fmt: skip
        ax.set_title(f"{fit.plan.score} ({fit.comments} comments)")
        ax.set_xlabel("escalated to a person (%)")
        ax.set_ylabel("decided wrongly by the rules (%)")
        # The curve runs to 100% error at no escalation: show the part near the target.
        errors = [cur.error_rate] + ([fit.suggested.error_rate] if fit.suggested else [])
        ax.set_xlim(0, 1.05 * max([*xs, 100 * cur.escalation_rate]) + 0.5)
        ax.set_ylim(0, 100 * max(4 * report.target, 1.5 * max(errors)))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(fits) :]:
        ax.set_visible(False)
    figure.suptitle(
        f"Thresholds from moderators' decisions: {report.rules_source}, site {report.site!r}, "
        f"{report.answers.moderator} moderator decisions, {_span(report.until - report.since)}"
    )
    figure.savefig(path, format="png", dpi=110)


def _pair(plan: ScoreThresholds, point: Point) -> str:
    parts = []
    if point.escalate is not None:
        parts.append(f"esc {plan.op('escalate')} {point.escalate:g}")
    if point.reject is not None:
        parts.append(f"rej {plan.op('reject')} {point.reject:g}")
    return ", ".join(parts)


# --- command ---------------------------------------------------------------------------


def run_calibrate(
    args: argparse.Namespace, *, build_score_fn: Callable[[], ScoreFn] | None = None
) -> int:
    """``moderation calibrate``: print the report and the patch (and draw the plot if asked).
    Exit 1 when the patched file fails to load or fails its inline tests."""
    from moderation import sites
    from moderation.db import make_engine, make_session_factory, site_session
    from moderation.settings import get_settings

    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    try:
        with site_session(make_session_factory(engine), args.site) as session:
            site = sites.get_site(session, args.site)  # NotFoundError: no such site
            path = args.rules or sites.rules_path(site, settings)
            try:
                ruleset = load_rules(path)
            except RulesError as exc:
                for line in exc.errors:
                    print(line, file=sys.stderr)
                return 1
            now = utcnow()
            report = calibrate(
                session=session,
                ruleset=ruleset,
                rules_path=Path(path),
                site=args.site,
                since=now - args.since,
                until=now,
                target=args.target_error,
                min_decisions=args.min_decisions,
                seconds_per_review=args.seconds_per_review,
                build_score_fn=build_score_fn,
                progress=sys.stderr.isatty(),
            )
    finally:
        engine.dispose()
    if args.plot:
        plot_tradeoff(report, args.plot)
    print(report.render())
    if args.plot:
        print(f"\ntrade-off plot written to {args.plot}", file=sys.stderr)
    if not report.check_passed:
        print("moderation: the suggested patch fails its checks (see above)", file=sys.stderr)
        return 1
    return 0
