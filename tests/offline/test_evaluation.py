"""``moderation eval``: metrics, rules thresholds, and what the rules do with the scores."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from moderation.cli import build_parser
from moderation.exceptions import RulesError
from moderation.offline.evaluation import rule_thresholds, threshold_metrics
from moderation.policy import load_rules
from tests.conftest import shared_data


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


# A valid rules file: eval reads thresholds with the rules loader, which refuses rules
# without an action and a file without a default (the old YAML walk took both).
RULES = """\
default: {action: approve}
rules:
  - id: spam-reject
    when: {score: spam, gte: 0.9}
    action: reject
  - id: off-topic
    when:
      all:
        - {score: relevance, lt: 0.2}
    action: escalate
  - id: spam-escalate
    when: {score: spam, gte: 0.6}
    action: escalate
"""


def test_thresholds_are_read_from_the_rules_file(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    assert rule_thresholds(rules, "spam") == [("gte", 0.6), ("gte", 0.9)]
    assert rule_thresholds(rules, "relevance") == [("lt", 0.2)]
    assert rule_thresholds(rules, "toxicity") == []
    assert rule_thresholds(tmp_path / "missing.yaml", "spam") == []
    assert rule_thresholds(load_rules(rules), "spam") == [("gte", 0.6), ("gte", 0.9)]


def test_thresholds_are_found_at_any_depth_and_between_counts_twice(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "default: {action: approve}\n"
        "rules:\n"
        "  - id: deep\n"
        "    when: {any: [{not: {all: [{score: toxicity, gt: 0.7}, {words: [x]}]}}]}\n"
        "    action: escalate\n"
        "  - id: band\n"
        "    when: {score: toxicity, between: [0.3, 0.5]}\n"
        "    action: escalate\n"
    )
    assert rule_thresholds(rules, "toxicity") == [("gte", 0.3), ("lte", 0.5), ("gt", 0.7)]


def test_a_broken_rules_file_stops_eval_with_the_loaders_errors(tmp_path: Path):
    """The old reader took any YAML and swallowed errors; eval now uses the rules loader."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "default: {action: approve}\nrules:\n"
        "  - {id: spam, when: {score: spam, gte: 1.5}, action: reject}\n"
    )
    with pytest.raises(RulesError) as exc:
        rule_thresholds(rules, "spam")
    with pytest.raises(RulesError) as from_loader:
        load_rules(rules)
    assert exc.value.errors == from_loader.value.errors
    assert exc.value.errors[0].startswith(f"{rules}:3:")  # file:line:col
    data = tmp_path / "rows.jsonl"
    data.write_text('{"text": "hello", "label": 1}\n')
    with pytest.raises(RulesError) as via_eval:
        _run(["eval", str(data), "--score", "spam", "--rules", str(rules), "--quiet"])
    assert via_eval.value.errors == from_loader.value.errors


def test_threshold_metrics_for_both_directions():
    labels, scores = [1, 1, 0, 0], [0.9, 0.4, 0.7, 0.1]
    high = threshold_metrics(labels, scores, "gte", 0.5)
    assert high == {
        "rule": "gte 0.5",
        "finds": "label 1",
        "flagged": 2,
        "precision": 0.5,
        "recall": 0.5,
    }
    low = threshold_metrics(labels, scores, "lt", 0.5)
    assert (low["flagged"], low["precision"], low["recall"]) == (2, 0.5, 0.5)


def test_eval_on_a_generated_csv(tmp_path: Path, capsys):
    data = tmp_path / "comments.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["body", "kind"])
        for i in range(10):
            writer.writerow([f"Check out my channel http://spam{i}.xyz and subscribe!", "SPAM"])
            writer.writerow([f"I think the deal number {i} will anger India.", "HAM"])
        writer.writerow(["an unlabelled row", "UNSURE"])
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    out = tmp_path / "report.json"
    code = _run(
        [
            "eval",
            str(data),
            "--score",
            "spam",
            "--text-column",
            "body",
            "--label-column",
            "kind",
            "--label-map",
            "SPAM=1,HAM=0",
            "--rules",
            str(rules),
            "--json",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert report["rows"] == 20 and report["positive"] == 10
    assert report["roc_auc"] == 1.0
    assert [t["rule"] for t in report["thresholds"]] == ["gte 0.6", "gte 0.9"]
    assert report["thresholds"][0]["recall"] == 1.0
    printed = capsys.readouterr().out
    assert "spam: 20 rows, 10 labelled 1" in printed and "ROC-AUC 1.0" in printed


def test_eval_limit_samples_rows(tmp_path: Path):
    data = tmp_path / "rows.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {"text": f"buy now at shop{i}.com" if i % 2 else f"fine {i}", "label": i % 2}
            )
            + "\n"
            for i in range(50)
        )
    )
    out = tmp_path / "report.json"
    code = _run(
        ["eval", str(data), "--score", "spam", "--limit", "10", "--json", str(out), "--quiet"]
    )
    assert code == 0
    assert json.loads(out.read_text())["rows"] == 10


def test_bad_label_map_is_named(tmp_path: Path):
    from moderation.exceptions import ConfigurationError

    data = tmp_path / "rows.csv"
    data.write_text("text,label\nhello,1\n")
    with pytest.raises(ConfigurationError, match="--label-map has item 'OFF'"):
        _run(["eval", str(data), "--score", "spam", "--label-map", "OFF"])


@pytest.mark.slow
def test_eval_relevance_on_a_small_offtopic_sample(tmp_path: Path):
    shared_data("context")
    out = tmp_path / "report.json"
    code = _run(
        [
            "eval",
            "--offtopic-from-context",
            str(shared_data("context")),
            "--score",
            "relevance",
            "--limit",
            "60",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert report["rows"] == 60
    assert report["roc_auc"] > 0.8
    assert "baseline_cosine" in report


def test_eval_reports_what_the_rules_do_with_the_scores(tmp_path: Path, capsys):
    data = tmp_path / "comments.jsonl"
    rows = [{"text": f"Check out my channel http://spam{i}.xyz and subscribe!", "label": 1}
            for i in range(6)]  # fmt: skip
    rows += [
        {"text": f"I think the deal number {i} will anger India.", "label": 0} for i in range(6)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "default: {action: approve, message: fine}\n"
        "rules:\n"
        "  - {id: spam, when: {score: spam, gte: 0.9}, action: reject}\n"
        "  - {id: maybe-spam, when: {score: spam, gte: 0.6}, action: escalate}\n"
    )
    out = tmp_path / "report.json"
    argv = ["eval", str(data), "--score", "spam", "--rules", str(rules), "--json", str(out)]
    assert _run([*argv, "--quiet"]) == 0
    report = json.loads(out.read_text())
    at_06, at_09 = report["thresholds"]  # flagged counts at the two thresholds
    by_label = report["actions"]["by_label"]
    flagged_spam = {"reject": at_09["flagged"], "escalate": at_06["flagged"] - at_09["flagged"]}
    assert at_06["precision"] == 1.0  # every flagged row is spam, so the hams are approved
    assert by_label["0"] == {"approve": 6}
    assert {a: n for a, n in by_label["1"].items() if a != "approve"} == {
        a: n for a, n in flagged_spam.items() if n
    }
    assert sum(by_label["1"].values()) == 6
    printed = capsys.readouterr().out
    assert "rules' actions on these scores" in printed and "approve" in printed
