from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest

import moderation.settings
from moderation.policy import load_rules
from moderation.policy.cli import add_commands

from .helpers import DEFAULT_RULES, DEFAULT_SCORES, FIXTURES

GOOD = FIXTURES / "good"
BAD = FIXTURES / "bad"


class ScoreFnFactory:
    """What the lead passes in: builds a score_fn from the real scorers (here: a stand-in)."""

    def __init__(self, scores: dict[str, float]):
        self.scores = scores
        self.builds = 0

    def __call__(self):
        self.builds += 1
        return lambda text, title, body, parent: dict(self.scores)


def run(argv: list[str], factory: ScoreFnFactory | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moderation")
    add_commands(
        parser.add_subparsers(dest="command", required=True), factory or ScoreFnFactory({})
    )
    args = parser.parse_args(argv)
    return args.func(args)


def test_check_ok(capsys):
    version = load_rules(DEFAULT_RULES).version[:8]
    scores = ",".join(DEFAULT_SCORES)
    assert run(["rules", "check", str(DEFAULT_RULES), "--scores", scores]) == 0
    out, err = capsys.readouterr()
    assert out == f"ok: {DEFAULT_RULES} (17 rules, version {version})\n"
    assert err == ""


def test_check_prints_every_error_and_fails(capsys):
    good, bad = GOOD / "base.yaml", BAD / "duplicate_ids.yaml"
    assert run(["rules", "check", str(bad), str(good)]) == 1
    out, err = capsys.readouterr()
    assert out == f"ok: {good} (3 rules, version {load_rules(good).version[:8]})\n"
    assert err == (
        f"{bad}:10:5: rules[2].id: duplicate rule id 'toxic' (first used by rules[0] on line 4)\n"
        f"error: {bad} (1 problem(s))\n"
    )


def test_check_with_scores_rejects_unknown_score_names(capsys):
    assert run(["rules", "check", str(GOOD / "base.yaml"), "--scores", "toxicity"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"{GOOD / 'base.yaml'}:16:12: unknown score 'relevance' in rules[2].when.score; "
        "active scorers produce: toxicity"
    )


def test_test_runs_the_active_rules_file_by_default(capsys, monkeypatch):
    monkeypatch.setattr(
        moderation.settings, "get_settings", lambda: SimpleNamespace(rules=DEFAULT_RULES)
    )
    factory = ScoreFnFactory({"toxicity": 0.0, "relevance": 1.0, "spam": 0.0})
    assert run(["rules", "test"], factory) == 0
    out = capsys.readouterr().out
    assert factory.builds == 1  # the default file has text-only tests
    assert out.splitlines()[-1] == (
        f"{DEFAULT_RULES}: 26 passed, 0 failed, 0 skipped "
        f"(version {load_rules(DEFAULT_RULES).version[:8]})"
    )


def test_test_builds_real_scorers_only_when_a_test_needs_them(capsys):
    factory = ScoreFnFactory({})
    assert run(["rules", "test", str(GOOD / "site.yaml"), "-v"], factory) == 0
    assert factory.builds == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        f"{GOOD / 'site.yaml'}:21: tests[0] PASSED",
        f"{GOOD / 'site.yaml'}:24: tests[1] PASSED",
    ]
    assert out[2].startswith(f"{GOOD / 'site.yaml'}: 2 passed, 0 failed, 0 skipped")


def test_test_fails_on_a_failing_inline_test(tmp_path, capsys):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "default: {action: approve}\n"
        "rules: [{id: r, when: {score: spam, gte: 0.5}, action: reject},"
        " {id: unused, when: {reply: true}, action: escalate}]\n"
        "tests:\n"
        "  - {text: buy, scores: {spam: 0.9}, expect: {action: reject, rule: r}}\n"
        "  - {text: hi, scores: {spam: 0.9}, expect: {action: approve}}\n"
    )
    assert run(["rules", "test", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{path}:5: tests[1] FAILED\n  text:     'hi'\n")
    assert out.splitlines()[-2:-1] == ["note: no test matched rule(s): unused"]
    assert out.splitlines()[-1].startswith(f"{path}: 1 passed, 1 failed, 0 skipped")


def test_test_reports_load_errors(capsys):
    assert run(["rules", "test", str(BAD / "empty.yaml")]) == 1
    assert "the file is empty" in capsys.readouterr().err


def test_diff(capsys):
    base, site = GOOD / "base.yaml", GOOD / "site.yaml"
    assert run(["rules", "diff", str(base), str(site)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"{base} ({load_rules(base).version[:8]}) -> {site} ({load_rules(site).version[:8]})"
    )
    assert out[1] == "  default action: approve -> escalate"
    assert run(["rules", "diff", str(base), str(base)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "  no changes to rules, default or lists"


def test_rules_needs_a_subcommand(capsys):
    with pytest.raises(SystemExit) as info:
        run(["rules"])
    assert info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err
