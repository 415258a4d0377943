"""``moderation eval``: how well a score separates labelled comments.

Scores a labelled CSV/TSV or JSON-lines file with the active scorers and prints ROC-AUC, and
precision and recall at the thresholds the active rules file uses for that score::

    moderation eval var/splits/davidson.test.jsonl --score toxicity
    moderation eval olid.tsv --text-column tweet --label-column subtask_a --label-map OFF=1,NOT=0
    moderation eval --offtopic-from-context ../shared/data/context --score relevance

Label 1 means "high score expected" (toxic, spam, on-topic). Where a score's evidence holds
a baseline (toxicity: alt-profanity-check alone; relevance: the raw cosine), its ROC-AUC is
reported beside the score's. ``--offtopic-from-context DIR`` builds the off-topic set: each
comment under its own article (label 1, with its parent for replies) and under an unrelated
article (label 0).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from moderation.exceptions import ConfigurationError
from moderation.training import (
    Example,
    add_train_command,
    parse_label_map,
    read_examples,
    read_rows,
)

BASELINES = {"toxicity": ("lexical", "alt-profanity-check"), "relevance": ("cosine", "raw cosine")}
"""Evidence fields holding a baseline for a score: (field, what it is)."""

DEFAULT_OFFTOPIC_SEED = 7


# --- thresholds from the rules file --------------------------------------------------------
def rule_thresholds(rules_path: Path, score: str) -> list[tuple[str, float]]:
    """(operator, value) pairs compared with ``score`` anywhere in a rules YAML file.

    Reads the YAML directly (any shape): a mapping under the score's name
    (``toxicity: {gte: 0.8}``), a mapping naming it (``{score: toxicity, gte: 0.8}``), or a
    string condition (``"toxicity >= 0.8"``)."""
    if not rules_path.is_file():
        return []
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe", pure=True).load(rules_path.read_text(encoding="utf-8"))
    except Exception:  # a broken rules file is the rules loader's business, not eval's
        return []
    found: list[tuple[str, float]] = []
    ops = {"gte": "gte", "gt": "gt", "lte": "lte", "lt": "lt", "ge": "gte", "le": "lte"}
    pattern = re.compile(rf"\b{re.escape(score)}\b\s*(>=|>|<=|<)\s*([0-9]*\.?[0-9]+)")
    symbols = {">=": "gte", ">": "gt", "<=": "lte", "<": "lt"}

    def take(mapping: dict) -> None:
        for key, value in mapping.items():
            if key in ops and isinstance(value, int | float) and not isinstance(value, bool):
                found.append((ops[key], float(value)))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("score") == score or node.get("name") == score:
                take(node)
            value = node.get(score)
            if isinstance(value, dict):
                take(value)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, str):
            for op, number in pattern.findall(node):
                found.append((symbols[op], float(number)))

    walk(data)
    return sorted(set(found), key=lambda item: (item[1], item[0]))


# --- metrics -------------------------------------------------------------------------------
def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    if len(set(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def threshold_metrics(labels: Sequence[int], scores: Sequence[float], op: str, value: float):
    """Precision and recall of the rule ``score <op> value`` at finding its class: label 1 for
    ``gt``/``gte`` rules, label 0 for ``lt``/``lte`` rules (e.g. off-topic for relevance)."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    hit = {"gte": s >= value, "gt": s > value, "lte": s <= value, "lt": s < value}[op]
    target = y == (1 if op in {"gte", "gt"} else 0)
    tp = int(np.sum(hit & target))
    flagged = int(np.sum(hit))
    return {
        "rule": f"{op} {value:g}",
        "finds": "label 1" if op in {"gte", "gt"} else "label 0",
        "flagged": flagged,
        "precision": round(tp / flagged, 4) if flagged else None,
        "recall": round(tp / int(target.sum()), 4) if target.sum() else None,
    }


# --- building inputs -----------------------------------------------------------------------
def _article_from_text(text: str, ident: str):
    from moderation.scoring.base import ArticleInput

    head, sep, rest = text.partition("\n\n")
    if sep and len(head) <= 300:
        return ArticleInput(id=ident, title=head.strip(), body=rest.strip())
    return ArticleInput(id=ident, title="", body=text)


OFFTOPIC_PARTS = ("all", "fit", "test")


def offtopic_examples(
    context_dir: Path, *, seed: int = DEFAULT_OFFTOPIC_SEED, part: str = "all"
) -> list[dict]:
    """Comments of ``globe_comments_dev.csv`` under their own article (label 1, with the parent
    text for replies) and under a randomly chosen other article (label 0, no parent).

    ``part``: "fit" or "test" keeps one half of the threads (fixed split; the relevance
    calibration is fitted on "fit" and reported on "test")."""
    from moderation.training import DEFAULT_SEED, split

    if part not in OFFTOPIC_PARTS:
        raise ConfigurationError(f"off-topic part {part!r}: expected one of {OFFTOPIC_PARTS}")
    articles = {row["article_id"]: row for row in read_rows(context_dir / "globe_articles.csv")}
    comments = [
        row
        for row in read_rows(context_dir / "globe_comments_dev.csv")
        if row["status"] == "published" and row["comment_text"].strip()
    ]
    texts = {row["comment_id"]: row["comment_text"] for row in comments}
    rng = random.Random(seed)
    others = sorted(articles)
    rows: list[dict] = []
    for row in comments:
        own = articles[row["article_id"]]
        other = articles[rng.choice([a for a in others if a != row["article_id"]])]
        for article, label in ((own, 1), (other, 0)):
            parent = texts.get(row["parent_id"] or "") if label == 1 else None
            rows.append(
                {
                    "text": row["comment_text"],
                    "label": label,
                    "article_id": article["article_id"],
                    "article": _strip_site(article["title"]) + "\n\n" + article["article_text"],
                    "parent": parent,
                    "thread": row["thread_id"] or row["comment_id"],
                }
            )
    if part != "all":
        threads = sorted({row["thread"] for row in rows})
        fit_threads, _ = split(threads, seed=DEFAULT_SEED, test_fraction=0.5)
        keep = set(fit_threads)
        rows = [row for row in rows if (row["thread"] in keep) == (part == "fit")]
    return rows


def _strip_site(title: str) -> str:
    return title.removesuffix(" - The Globe and Mail").strip()


# --- scoring -------------------------------------------------------------------------------
def _scorer_name(score: str) -> str:
    from moderation.scoring.detoxify import TOXICITY_LABELS

    if score in TOXICITY_LABELS:
        return "toxicity"
    if score in {"relevance", "spam"}:
        return score
    raise ConfigurationError(
        f"Option --score has value {score!r}: expected relevance, spam or a toxicity label "
        f"({', '.join(TOXICITY_LABELS)})."
    )


def score_rows(
    rows: Sequence[dict],
    score: str,
    *,
    settings: Any,
    scorers: Any = None,
    progress: bool = True,
    explain: bool = False,
) -> tuple[list[float], dict[str, list[float]], list[dict[str, float]]]:
    """The score of every row, baselines read from its evidence, and every score per row."""
    from tqdm import tqdm

    from moderation.scoring import build_scorers
    from moderation.scoring.base import CommentInput

    if scorers is None:
        only = settings.model_copy(update={"scorers": _scorer_name(score)})
        scorers = build_scorers(only, redis=None)
    if not explain:
        # Occlusion re-scores each word of every high-scoring comment: not needed for metrics.
        for scorer in scorers.scorers:
            if hasattr(scorer, "explain_threshold"):
                scorer.explain_threshold = float("inf")
    if score not in scorers.labels:
        raise ConfigurationError(
            f"Score {score!r} is not produced by the active scorers ({', '.join(scorers.labels)})."
        )
    articles: dict[str, Any] = {}
    comments = []
    for index, row in enumerate(rows):
        article_text = row.get("article") or ""
        key = str(row.get("article_id") or article_text[:200])
        if key not in articles:
            article = _article_from_text(article_text, f"eval-{len(articles)}")
            if scorers.featurizer_names:
                from dataclasses import replace

                article = replace(article, features=scorers.article_features(article))
            articles[key] = article
        comments.append(
            CommentInput(
                id=f"eval-{index}",
                text=row["text"],
                author_id=f"eval-author-{index}",
                article=articles[key],
                parent_text=row.get("parent") or None,
            )
        )
    values: list[float] = []
    all_scores: list[dict[str, float]] = []
    baseline_field = BASELINES.get(score, (None, None))[0]
    baselines: dict[str, list[float]] = {}
    step = scorers.batch_size
    with tqdm(
        total=len(comments), desc=f"scoring {score}", file=sys.stderr, disable=not progress
    ) as bar:
        for start in range(0, len(comments), step):
            for result in scorers.score(comments[start : start + step]):
                values.append(result.scores[score])
                all_scores.append(dict(result.scores))
                evidence = result.evidence.get(_scorer_name(score), {})
                if baseline_field and baseline_field in evidence:
                    baselines.setdefault(baseline_field, []).append(float(evidence[baseline_field]))
            bar.update(min(step, len(comments) - start))
    baselines = {k: v for k, v in baselines.items() if len(v) == len(values)}
    return values, baselines, all_scores


def rules_confusion(
    rows: Sequence[dict], all_scores: Sequence[dict[str, float]], rules_path: Path
) -> dict[str, Any] | None:
    """What the rules file does with these scores: label x action counts.

    Each row is judged as a first comment by a new author on its own article, with only
    the scores eval computed (rules on other scores do not match)."""
    from datetime import UTC, datetime

    from moderation.exceptions import RulesError
    from moderation.policy import ArticleFacts, EvaluationContext, load_rules

    try:
        ruleset = load_rules(rules_path)
    except RulesError:
        return None
    now = datetime.now(UTC)
    history = {q: 0 for q in ruleset.history_queries}
    table: dict[str, dict[str, int]] = {}
    for index, (row, scores) in enumerate(zip(rows, all_scores, strict=True)):
        ctx = EvaluationContext(
            scores=scores,
            text=row["text"],
            author_id=f"eval-author-{index}",
            article=ArticleFacts(id=f"eval-{index}"),
            is_reply=bool(row.get("parent")),
            created_at=now,
            history=history,
        )
        action = ruleset.evaluate(ctx).action.value
        counts = table.setdefault(str(int(row["label"])), {})
        counts[action] = counts.get(action, 0) + 1
    return {"rules_version": ruleset.version, "by_label": table}


def evaluate(
    rows: Sequence[dict],
    score: str,
    *,
    settings: Any,
    rules_path: Path | None = None,
    scorers: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    labels = [int(row["label"]) for row in rows]
    values, baselines, all_scores = score_rows(
        rows, score, settings=settings, scorers=scorers, progress=progress
    )
    thresholds = rule_thresholds(rules_path, score) if rules_path else []
    auc = roc_auc(labels, values)
    report: dict[str, Any] = {
        "score": score,
        "rows": len(rows),
        "positive": int(sum(labels)),
        "roc_auc": round(auc, 4) if auc is not None else None,
        "rules_file": str(rules_path) if rules_path else None,
        "thresholds": [threshold_metrics(labels, values, op, v) for op, v in thresholds],
    }
    if rules_path is not None and rules_path.is_file():
        report["actions"] = rules_confusion(rows, all_scores, rules_path)
    if not thresholds:
        report["thresholds"] = [threshold_metrics(labels, values, "gte", 0.5)]
        report["note"] = f"no {score} threshold in the rules file; shown at gte 0.5"
    for name, series in baselines.items():
        base_auc = roc_auc(labels, series)
        report[f"baseline_{name}"] = {
            "what": BASELINES[score][1],
            "roc_auc": round(base_auc, 4) if base_auc is not None else None,
        }
    return report


def load_rows(args: argparse.Namespace) -> list[dict]:
    if args.offtopic_from_context:
        rows = offtopic_examples(
            Path(args.offtopic_from_context), seed=args.sample_seed, part=args.offtopic_part
        )
    else:
        if not args.files:
            raise ConfigurationError("Name a labelled FILE, or use --offtopic-from-context DIR.")
        rows = []
        for name in args.files:
            examples: list[Example] = read_examples(
                Path(name),
                text_column=args.text_column,
                label_column=args.label_column,
                article_column=args.article_column,
                parent_column=args.parent_column,
                label_map=parse_label_map(args.label_map),
            )
            rows += [
                {"text": e.text, "label": e.label, "article": e.article, "parent": e.parent}
                for e in examples
            ]
    if args.limit and len(rows) > args.limit:
        rows = random.Random(args.sample_seed).sample(rows, args.limit)
    return rows


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"{report['score']}: {report['rows']} rows, {report['positive']} labelled 1",
        f"  ROC-AUC {report['roc_auc']}",
    ]
    for key, value in report.items():
        if key.startswith("baseline_"):
            lines.append(f"  baseline ({value['what']}) ROC-AUC {value['roc_auc']}")
    for item in report["thresholds"]:
        lines.append(
            f"  {report['score']} {item['rule']} (finds {item['finds']}): "
            f"flagged {item['flagged']}, precision {item['precision']}, recall {item['recall']}"
        )
    if report.get("note"):
        lines.append(f"  ({report['note']})")
    actions = report.get("actions")
    if actions:
        lines.append(f"  rules' actions on these scores (rules {actions['rules_version'][:12]}):")
        lines.append(f"    {'label':>5}  {'approve':>8} {'escalate':>8} {'reject':>8}")
        for label, counts in sorted(actions["by_label"].items()):
            cells = " ".join(f"{counts.get(a, 0):>8}" for a in ("approve", "escalate", "reject"))
            lines.append(f"    {label:>5}  {cells}")
    return "\n".join(lines)


def _eval(args: argparse.Namespace) -> int:
    from moderation.settings import get_settings

    settings = get_settings()
    if args.toxicity_backend:
        settings = settings.model_copy(update={"toxicity_backend": args.toxicity_backend})
    rows = load_rows(args)
    if not rows:
        raise ConfigurationError("No labelled rows to evaluate.")
    rules_path = Path(args.rules) if args.rules else settings.rules
    report = evaluate(
        rows, args.score, settings=settings, rules_path=rules_path, progress=not args.quiet
    )
    report["source"] = (
        " ".join(args.files)
        if args.files
        else f"offtopic-from-context {args.offtopic_from_context}"
    )
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.write_rows:
        with Path(args.write_rows).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    return 0


def add_commands(subparsers: Any) -> None:
    """Add ``eval`` and ``train`` to the ``moderation`` command."""
    p = subparsers.add_parser(
        "eval",
        help="ROC-AUC, precision and recall of a score on a labelled file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="CSV, TSV or JSON lines")
    p.add_argument("--score", default="toxicity", help="score name (default: toxicity)")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--article-column", help="article text (a short first paragraph is its title)")
    p.add_argument("--parent-column", help="parent comment text, for replies")
    p.add_argument("--label-map", help="e.g. 'OFF=1,NOT=0'; unmapped labels are skipped")
    p.add_argument("--limit", type=int, help="evaluate a random sample of N rows")
    p.add_argument("--sample-seed", type=int, default=DEFAULT_OFFTOPIC_SEED)
    p.add_argument("--rules", help="rules file for thresholds (default: MODERATION_RULES)")
    p.add_argument("--toxicity-backend", help="override MODERATION_TOXICITY_BACKEND")
    p.add_argument("--offtopic-from-context", metavar="DIR", help="build the off-topic set")
    p.add_argument(
        "--offtopic-part",
        choices=OFFTOPIC_PARTS,
        default="all",
        help="half of the threads: 'test' was not used to fit the relevance calibration",
    )
    p.add_argument("--write-rows", metavar="OUT", help="also write the rows used (JSON lines)")
    p.add_argument("--json", metavar="OUT", help="write the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval)
    add_train_command(subparsers)


__all__ = ["add_commands", "evaluate", "offtopic_examples", "rule_thresholds", "threshold_metrics"]
