"""What changed between two versions of a rules file, rule by rule, for people to read."""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any

from moderation.policy.conditions import ConditionModel, Description
from moderation.policy.evaluator import RuleSet

__all__ = ["describe_condition", "diff_rulesets"]


def _num(value: float) -> str:
    return f"{value:g}"


def describe_condition(cond: ConditionModel, numbers: list[tuple[str, float]] | None = None) -> str:
    """A one-line rendering such as ``all(score toxicity >= 0.5, count links >= 1)``.

    With ``numbers``, thresholds are written as ``#`` and appended to it as
    ``(description, value)``: two conditions that differ only in thresholds then
    render the same.
    """
    return cond.describe(Description(numbers))


def _when_change(old: ConditionModel, new: ConditionModel) -> str | None:
    old_numbers: list[tuple[str, float]] = []
    new_numbers: list[tuple[str, float]] = []
    old_shape = describe_condition(old, old_numbers)
    new_shape = describe_condition(new, new_numbers)
    if old_shape != new_shape:
        return f"conditions {describe_condition(old)} -> {describe_condition(new)}"
    changed = [
        f"{desc} {_num(a)} -> {_num(b)}"
        for (desc, a), (_, b) in zip(old_numbers, new_numbers, strict=True)
        if a != b
    ]
    return "thresholds " + ", ".join(changed) if changed else None


def _fields_change(old: Any, new: Any) -> list[str]:
    changes = []
    if old.action != new.action:
        changes.append(f"action {old.action or 'none'} -> {new.action or 'none'}")
    if old.message != new.message:
        changes.append(f"message {old.message!r} -> {new.message!r}")
    if old.priority != new.priority:
        changes.append(f"priority {old.priority} -> {new.priority}")
    if list(old.labels) != list(new.labels):
        changes.append(f"labels {list(old.labels)} -> {list(new.labels)}")
    return changes


def diff_rulesets(old: RuleSet, new: RuleSet) -> list[str]:
    """One line per difference: default, removed/added/changed rules, word lists.

    A changed rule's line names what changed: ``order``, ``thresholds`` (same conditions,
    other numbers), ``conditions``, ``action``, ``message``, ``priority``, ``labels``.
    An empty list means the two behave the same.
    """
    lines: list[str] = []
    old_default, new_default = old.default.spec, new.default.spec
    if old_default != new_default:
        if old_default.action != new_default.action:
            lines.append(f"default action: {old_default.action} -> {new_default.action}")
        rest = [c for c in _fields_change(old_default, new_default) if not c.startswith("action")]
        if rest:
            lines.append("default: " + "; ".join(rest))

    old_rules = {r.id: r for r in old.rules}
    new_rules = {r.id: r for r in new.rules}
    for i, rule in enumerate(old.rules):
        if rule.id not in new_rules:
            lines.append(f"removed rule '{rule.id}' (was at position {i + 1})")

    old_order = [r.id for r in old.rules if r.id in new_rules]
    new_order = [r.id for r in new.rules if r.id in old_rules]
    kept: set[str] = set()
    for block in SequenceMatcher(a=old_order, b=new_order, autojunk=False).get_matching_blocks():
        kept.update(old_order[block.a : block.a + block.size])
    old_pos = {r.id: i + 1 for i, r in enumerate(old.rules)}

    for i, rule in enumerate(new.rules):
        if rule.id not in old_rules:
            action = rule.spec.action or "labels only"
            lines.append(
                f"added rule '{rule.id}' at position {i + 1}: {action} when "
                f"{describe_condition(rule.spec.when)}"
            )
            continue
        before = old_rules[rule.id].spec
        changes = []
        if rule.id not in kept:
            changes.append(f"order (position {old_pos[rule.id]} -> {i + 1})")
        when = _when_change(before.when, rule.spec.when)
        if when:
            changes.append(when)
        changes.extend(_fields_change(before, rule.spec))
        if changes:
            lines.append(f"changed rule '{rule.id}': " + "; ".join(changes))

    for name in sorted(set(old.lists) | set(new.lists)):
        a, b = old.lists.get(name), new.lists.get(name)
        if a == b:
            continue
        if a is None:
            lines.append(f"added list '{name}' ({len(b or ())} entries)")
        elif b is None:
            lines.append(f"removed list '{name}'")
        else:
            added = len(set(b) - set(a))
            removed = len(set(a) - set(b))
            lines.append(f"changed list '{name}': {added} added, {removed} removed")
    return lines
