"""``moderation rules check|test|diff``: the rules command group.

The lead's ``moderation.cli`` calls ``add_commands(subparsers, build_score_fn)``; each
subcommand sets ``func(args) -> exit code``. It returns the group's own subparsers, so
commands that need the database (``rules backtest``) are added from outside this package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from moderation.exceptions import RulesError
from moderation.policy.diff import diff_rulesets
from moderation.policy.loader import load_rules
from moderation.policy.testing import ScoreFn, covered_rules, run_inline_tests

__all__ = ["add_commands"]


def add_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    build_score_fn: Callable[[], ScoreFn],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Add ``rules check``, ``rules test`` and ``rules diff`` to an argparse subparsers object.

    ``build_score_fn()`` returns a ``score_fn`` backed by the real scorers; it is called
    only when some inline test has no fixed scores.
    """
    rules = subparsers.add_parser("rules", help="check, test and compare rules files")
    commands = rules.add_subparsers(dest="rules_command", metavar="COMMAND", required=True)

    check = commands.add_parser("check", help="validate rules files and print every error")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.add_argument(
        "--scores",
        metavar="NAMES",
        help="comma-separated score names the active scorers produce; other names are errors",
    )
    check.set_defaults(func=_check)

    test = commands.add_parser("test", help="run a rules file's inline tests")
    test.add_argument(
        "file", nargs="?", type=Path, metavar="FILE", help="default: the active rules file"
    )
    test.add_argument("-v", "--verbose", action="store_true", help="list passing tests too")
    test.set_defaults(func=partial(_test, build_score_fn=build_score_fn))

    diff = commands.add_parser("diff", help="summarise what changed between two rules files")
    diff.add_argument("old", type=Path, metavar="OLD")
    diff.add_argument("new", type=Path, metavar="NEW")
    diff.set_defaults(func=_diff)
    return commands


def _print_errors(exc: RulesError) -> None:
    for line in exc.errors:
        print(line, file=sys.stderr)


def _check(args: argparse.Namespace) -> int:
    available = None
    if args.scores is not None:
        available = [s.strip() for s in args.scores.split(",") if s.strip()]
    status = 0
    for path in args.files:
        try:
            ruleset = load_rules(path, available_scores=available)
        except RulesError as exc:
            _print_errors(exc)
            print(f"error: {path} ({len(exc.errors)} problem(s))", file=sys.stderr)
            status = 1
            continue
        print(f"ok: {path} ({len(ruleset.rules)} rules, version {ruleset.version[:8]})")
    return status


def _test(args: argparse.Namespace, *, build_score_fn: Callable[[], ScoreFn]) -> int:
    path = args.file
    if path is None:
        from moderation.settings import get_settings

        path = get_settings().rules
    try:
        ruleset = load_rules(path)
    except RulesError as exc:
        _print_errors(exc)
        return 1
    score_fn = build_score_fn() if any(t.needs_real_scores for t in ruleset.tests) else None
    outcomes = run_inline_tests(ruleset, score_fn)
    for outcome in outcomes:
        if not outcome.passed or args.verbose:
            print(outcome.render())
    counts = {s: sum(o.status == s for o in outcomes) for s in ("passed", "failed", "skipped")}
    uncovered = [r.id for r in ruleset.rules if r.id not in covered_rules(outcomes)]
    if uncovered:
        print(f"note: no test matched rule(s): {', '.join(uncovered)}")
    print(
        f"{path}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped (version {ruleset.version[:8]})"
    )
    return 1 if counts["failed"] else 0


def _diff(args: argparse.Namespace) -> int:
    try:
        old = load_rules(args.old)
        new = load_rules(args.new)
    except RulesError as exc:
        _print_errors(exc)
        return 1
    lines = diff_rulesets(old, new)
    print(f"{args.old} ({old.version[:8]}) -> {args.new} ({new.version[:8]})")
    for line in lines or ["no changes to rules, default or lists"]:
        print(f"  {line}")
    return 0
