"""``moderation eval``: metrics, rules thresholds, and the off-topic set."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from moderation.evaluation import (
    add_commands,
    offtopic_examples,
    rule_thresholds,
    threshold_metrics,
)
from tests.conftest import shared_data


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


RULES = """\
rules:
  - id: spam-reject
    when: {score: spam, gte: 0.9}
  - id: off-topic
    when:
      all:
        - {score: relevance, lt: 0.2}
  - id: spam-escalate
    when: {score: spam, gte: 0.6}
"""


def test_thresholds_are_read_from_the_rules_file(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    assert rule_thresholds(rules, "spam") == [("gte", 0.6), ("gte", 0.9)]
    assert rule_thresholds(rules, "relevance") == [("lt", 0.2)]
    assert rule_thresholds(rules, "toxicity") == []
    assert rule_thresholds(tmp_path / "missing.yaml", "spam") == []


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


def test_offtopic_set_from_context():
    context = shared_data("context")
    rows = offtopic_examples(context)
    assert len(rows) % 2 == 0
    on = [r for r in rows if r["label"] == 1]
    off = [r for r in rows if r["label"] == 0]
    assert len(on) == len(off)
    assert all(
        a["text"] == b["text"] and a["article_id"] != b["article_id"]
        for a, b in zip(on, off, strict=True)
    )
    assert any(r["parent"] for r in on) and not any(r["parent"] for r in off)
    assert rows == offtopic_examples(context)  # fixed seed


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
