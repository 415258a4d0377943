"""How often each rule fired, by action, over a time window, read from the decisions table.

A rule **decided** a comment when it is the decision's ``rule`` (the default counts as
``default``); it **matched** when it is among the decision's ``reasons`` (every matching
rule that was evaluated, the deciding one included). Both are counted by the action of the
decision, and only automatic decisions (``decided_by = rules``) count.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.db.models import DecidedBy, Decision, utcnow

__all__ = ["DEFAULT_RULE", "RuleCounts", "RuleStats", "parse_window", "rule_stats"]

DEFAULT_RULE = "default"
"""How the file's ``default`` is named in reasons and in these counts."""

_WINDOW = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw])\s*")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


WINDOW_MAX = 10_000
"""A window's number is below this, in any unit (9999 weeks: 191 years, and no overflow)."""


def parse_window(text: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w`` as a ``timedelta``; ``ValueError`` otherwise.
    (``moderation.api.schemas.WINDOW`` is the same rule as a pattern.)"""
    match = _WINDOW.fullmatch(text)
    # Judged on the digits, not on a float: 1e-400 and 9999.99...9 would round.
    if not match or not match.group(1).strip("0."):
        raise ValueError(
            f"window {text!r} is not a positive duration; write a number and a unit "
            "(s, m, h, d, w), e.g. 24h or 7d"
        )
    if int(match.group(1).split(".")[0]) >= WINDOW_MAX:
        raise ValueError(f"window {text!r} is too long: the number must be below {WINDOW_MAX}")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


@dataclass
class RuleCounts:
    rule: str
    decided: Counter[str] = field(default_factory=Counter)
    matched: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "decided": dict(sorted(self.decided.items())),
            "decided_total": sum(self.decided.values()),
            "matched": dict(sorted(self.matched.items())),
            "matched_total": sum(self.matched.values()),
        }


@dataclass
class RuleStats:
    since: datetime
    until: datetime
    decisions: int
    actions: Counter[str]
    rules: list[RuleCounts]

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "decisions": self.decisions,
            "actions": dict(sorted(self.actions.items())),
            "rules": [r.as_dict() for r in self.rules],
        }


def rule_stats(
    *,
    session: Session,
    since: datetime,
    until: datetime | None = None,
    rules_version: str | None = None,
) -> RuleStats:
    """Counts of automatic decisions made in ``[since, until)``, per rule and action.

    Rules come most-decisive first (then most matched, then by id).
    """
    until = until or utcnow()
    stmt = (
        select(Decision.action, Decision.rule, Decision.reasons)
        .where(
            Decision.decided_by == DecidedBy.RULES.value,
            Decision.decided_at >= since,
            Decision.decided_at < until,
        )
        .execution_options(yield_per=1000)
    )
    if rules_version is not None:
        stmt = stmt.where(Decision.rules_version == rules_version)
    per_rule: dict[str, RuleCounts] = {}
    actions: Counter[str] = Counter()
    total = 0
    for action, rule, reasons in session.execute(stmt):
        total += 1
        actions[action] += 1
        decider = rule or DEFAULT_RULE
        per_rule.setdefault(decider, RuleCounts(decider)).decided[action] += 1
        # A rule is counted once per decision even if a file lists it twice.
        for name in dict.fromkeys(r.get("rule") for r in reasons or () if isinstance(r, dict)):
            if name:
                per_rule.setdefault(name, RuleCounts(name)).matched[action] += 1
    ordered = sorted(
        per_rule.values(),
        key=lambda c: (-sum(c.decided.values()), -sum(c.matched.values()), c.rule),
    )
    return RuleStats(since=since, until=until, decisions=total, actions=actions, rules=ordered)
