"""The ``moderation`` command.

  serve                     the API, workers and (by default) an embedded Redis
  worker [--webhooks]       one scoring worker, or one webhook worker
  status [--watch|--json]   queues, workers, rules, pending comments, reviews, webhooks
  db upgrade|revision       apply the database migrations; draft the next one
  rules check|test|diff     validate, test and compare rules files
  rules backtest            replay stored comments under another rules file
  calibrate                 thresholds learned from moderators' decisions (a rules patch)
  eval                      how well a score separates labelled comments
  train                     refit the toxicity model or the relevance calibration
  demo                      send a demo article and comments to a running service
  export statements         the period's removals as DSA statements of reasons
  sites create|update|list  the sites (publications) this deployment serves
  keys create|list|revoke   API keys kept in the database (shown once)
  authors forget            erase an author's text and identity (data-protection request)

Every command is registered here; the module that runs one (the offline tools in
``moderation.offline`` among them) is imported only when that command runs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from moderation.defaults import (
    DEFAULT_EPOCHS,
    DEFAULT_LABEL_COLUMNS,
    DEFAULT_OFFTOPIC_SEED,
    DEFAULT_SHARED_EPOCHS,
    DEFAULT_SITE,
    DEFAULT_SOURCE_TEST_CAP,
    DEFAULT_SOURCE_TRAIN_CAP,
    DEFAULT_SPLIT_SEED,
    DEFAULT_TEST_FRACTION,
    DEFAULT_TEXT_COLUMNS,
    DEFAULT_TUNED_LAYERS,
    OFFTOPIC_PARTS,
)
from moderation.exceptions import ModerationError
from moderation.settings import get_settings

if TYPE_CHECKING:
    from moderation.offline.scoring import ScoreFunction

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


EVAL_DESCRIPTION = """\
Scores a labelled CSV/TSV or JSON-lines file with the active scorers and prints ROC-AUC, and
precision and recall at the thresholds the active rules file uses for that score::

    moderation eval var/splits/davidson.test.jsonl --score toxicity
    moderation eval olid.tsv --text-column tweet --label-column subtask_a --label-map OFF=1,NOT=0
    moderation eval --offtopic-from-context ../shared/data/context --score relevance

Label 1 means "high score expected" (toxic, spam, on-topic). Where a score's evidence holds
a baseline (toxicity: alt-profanity-check alone; relevance: the raw cosine), its ROC-AUC is
reported beside the score's. ``--offtopic-from-context DIR`` builds the off-topic set: each
comment under its own article (label 1, with its parent for replies) and under an unrelated
article (label 0). A rules file with errors stops eval with the rules loader's errors.
"""

TRAIN_DESCRIPTION = """\
Refit the offline toxicity model on labelled comments.

The model (``moderation/scoring/models/toxicity_tuned.npz``) is MiniLM's top layer fine-tuned
on the labelled comments, stacked with alt-profanity-check's score; on two CPU cores, 33,000
comments take about 10 minutes. Input: CSV, TSV or JSON-lines files with a text column and a
0/1 label column (``--label-map`` turns other labels into 0/1)::

    moderation train data.csv --text-column text --label-column label
    moderation train --prepare-splits ../shared/data --out-dir var/splits
    moderation train --fit-relevance ../shared/data/context

``--prepare-splits`` writes fixed-seed train/test splits of the development data (outside the
project), so the test parts stay untouched by training.
"""

BACKTEST_DESCRIPTION = """\
Replay stored comments under another rules file, with the scores they were given (no
re-scoring), and compare with what the rules decided at the time.

"Current" is each comment's latest automatic decision (``decided_by = rules``). Where the
right answer is known (a moderator's latest decision, or a labels file) the report also
gives, old vs new, the error rate of automatic decisions (approve/reject that differ from
the right answer) and the escalation rate.

History conditions count the author's other comments by their status now, as the worker
would if the comment arrived again today.
"""

CALIBRATE_DESCRIPTION = """\
For each score the rules compare, the thresholds that keep the share of comments the rules
decide wrongly under --target-error while escalating as few as possible, learned from the
final decisions of the comments received in the window: a moderator's (on an escalated
comment, or overturning the rules), else the rules' own approve or reject. Prints the current
and suggested thresholds with the escalation rate and error of each, the moderator hours a
week saved at the current volume, and a patch of the rules file, checked with the rules
loader and the file's inline tests (exit 1 when it fails them). The rules file itself is
never changed; `moderation rules backtest` checks a patched copy::

    moderation calibrate --since 30d --plot calibration.png
"""


# --- what each command runs ---------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    from moderation.serve import serve

    settings = get_settings()
    update = {
        k: v
        for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers))
        if v is not None
    }
    return serve(settings.model_copy(update=update))


def _worker(args: argparse.Namespace) -> int:
    if args.webhooks:
        from workers.webhook_worker import run_webhook_worker

        run_webhook_worker(burst=args.burst, name=args.name)
        return 0
    from workers.worker import run_worker

    run_worker(burst=args.burst, name=args.name)
    return 0


def _status(args: argparse.Namespace) -> int:
    from moderation.status import run_status

    return run_status(args)


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds above 0, got {text!r}")
    return value


def _db_upgrade(args: argparse.Namespace) -> int:
    from moderation.db import make_engine, upgrade
    from moderation.db.migrate import current_revision

    engine = make_engine(get_settings().effective_database_url)
    upgrade(engine, args.revision)
    print(f"database at revision {current_revision(engine)}")
    return 0


def _db_revision(args: argparse.Namespace) -> int:
    from moderation.db.migrate import draft_revision

    path = draft_revision(args.message)
    print(f"wrote {path}: read it, then test it (tests/db/test_migrations.py)")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from moderation.offline.demo import run_demo

    return run_demo(base_url=args.url, api_key=args.key, timeout=args.timeout)


def _rules_score_fn() -> ScoreFunction:
    """The real scorers for ``rules test``, built when an inline test needs them."""
    from moderation.offline.scoring import score_fn_from_settings

    return score_fn_from_settings(get_settings())


def _backtest(args: argparse.Namespace) -> int:
    from moderation.offline.backtest import run_backtest

    return run_backtest(args)


def _calibrate(args: argparse.Namespace) -> int:
    from moderation.offline.thresholds import run_calibrate

    return run_calibrate(args, build_score_fn=_rules_score_fn)


def _eval(args: argparse.Namespace) -> int:
    if args.shared:
        from moderation.offline.source_eval import run_shared_eval

        return run_shared_eval(args)
    from moderation.offline.evaluation import run_eval

    return run_eval(args)


def _train(args: argparse.Namespace) -> int:
    from moderation.offline.training import run_train

    return run_train(args)


def _export_statements(args: argparse.Namespace) -> int:
    from moderation.offline.statements import run_export

    return run_export(args)


def _scope(text: str) -> list[str]:
    from moderation.offline.statements import parse_scope

    try:
        return parse_scope(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1, e.g. 0.02")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _window(text: str) -> timedelta:
    from moderation.rule_stats import parse_window

    try:
        return parse_window(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --- the parser -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moderation",
        description="The comment-moderation service and its tools.",
        epilog="Groups: db upgrade|revision; rules check|test|diff|backtest. "
        "'moderation COMMAND --help' describes one command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the API, workers and (by default) an embedded Redis")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.set_defaults(func=_serve)

    p = sub.add_parser("worker", help="run one scoring worker (models loaded once)")
    p.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    p.add_argument("--name")
    p.add_argument(
        "--webhooks",
        action="store_true",
        help="deliver webhooks instead (the webhook queue only; loads no models)",
    )
    p.set_defaults(func=_worker)

    p = sub.add_parser(
        "status",
        help="queues, workers, rules, pending comments, reviews and webhooks on one screen",
        description="The deployment on one screen: queue depths and waits, what each "
        "worker is doing and its rules version, the oldest pending comment, escalations "
        "waiting and the webhook outbox per site (moderation/status.py).",
    )
    p.add_argument("--site", help="the database figures of this site only (default: every site)")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    shown.add_argument("--json", action="store_true", help="print the snapshot as JSON")
    p.add_argument(
        "--interval",
        type=_interval,
        default=2.0,
        metavar="SECONDS",
        help="with --watch: seconds between refreshes (default 2)",
    )
    p.set_defaults(func=_status)

    db = sub.add_parser("db", help="database migrations").add_subparsers(
        dest="db_command", required=True
    )
    p = db.add_parser("upgrade", help="apply Alembic migrations")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=_db_upgrade)
    p = db.add_parser(
        "revision", help="draft the next migration from what the models add to the schema"
    )
    p.add_argument("message", help="what the migration does, e.g. 'add comment language'")
    p.set_defaults(func=_db_revision)

    p = sub.add_parser("demo", help="send a demo article and comments to a running service")
    p.add_argument("--url", default=None, help="default: http://HOST:PORT from settings")
    p.add_argument(
        "--key", default=None, help="publisher key (default: MODERATION_API_KEYS or var/)"
    )
    p.add_argument("--timeout", type=float, default=60.0)
    p.set_defaults(func=_demo)

    from moderation.policy.cli import add_commands as add_rules_commands

    _add_backtest(add_rules_commands(sub, _rules_score_fn))
    _add_eval(sub)
    _add_train(sub)
    _add_export(sub)
    _add_calibrate(sub)
    from moderation.admin_cli import add_commands as add_admin_commands

    add_admin_commands(sub)
    return parser


def _add_calibrate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "calibrate",
        help="suggest thresholds from moderators' decisions, as a rules patch",
        description=CALIBRATE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--since",
        type=_window,
        default=timedelta(days=30),
        metavar="WINDOW",
        help="comments received in this window up to now: 7d, 30d, 8w (default 30d)",
    )
    p.add_argument(
        "--target-error",
        type=_share,
        default=0.02,
        metavar="SHARE",
        help="the share of decided comments the rules may decide wrongly (default 0.02)",
    )
    p.add_argument("--rules", type=Path, metavar="FILE", help="default: the site's rules file")
    p.add_argument("--site", default=DEFAULT_SITE, help="whose comments (default: default)")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="draw the trade-off curves")
    p.add_argument(
        "--seconds-per-review",
        type=_positive,
        metavar="N",
        help="what a review costs (default: the median time from claim to decision, else 30)",
    )
    p.add_argument(
        "--min-decisions",
        type=int,
        default=50,
        metavar="N",
        help="refuse with fewer moderator decisions than this (default 50)",
    )
    p.set_defaults(func=_calibrate)


def _add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = sub.add_parser("export", help="export records").add_subparsers(
        dest="export_command", required=True, metavar="WHAT"
    )
    p = export.add_parser(
        "statements",
        help="one DSA Transparency Database statement of reasons per removal (docs/reasons.md)",
    )
    p.add_argument(
        "--since",
        type=_window,
        default=timedelta(days=30),
        metavar="WINDOW",
        help="removals decided in this window up to now: 24h, 30d, 2w (default 30d)",
    )
    p.add_argument("--out", type=Path, metavar="FILE", help="write here (default: stdout)")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("--site", default=DEFAULT_SITE, help="whose removals (default: default)")
    p.add_argument(
        "--territorial-scope",
        type=_scope,
        default="EU",
        metavar="CODES",
        help="EU, EEA or comma-separated EU/EEA country codes (default: EU, its 27 countries)",
    )
    p.add_argument(
        "--legal-ground",
        default=None,
        metavar="TEXT",
        help="the law relied on, for removals with the reason code illegal",
    )
    p.set_defaults(func=_export_statements)


def _add_backtest(rules_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = rules_commands.add_parser(
        "backtest",
        help="replay stored comments (with their stored scores) under a rules file",
        description=BACKTEST_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", type=Path, metavar="FILE", help="the rules file to try")
    p.add_argument(
        "--since",
        type=_window,
        default=timedelta(days=7),
        metavar="WINDOW",
        help="comments received in this window up to now: 24h, 7d, 2w (default 7d)",
    )
    p.add_argument(
        "--labels",
        type=Path,
        metavar="FILE",
        help="right answers (CSV/JSONL: comment id + action or 0/1); "
        "default: moderators' decisions",
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument(
        "--site", default=DEFAULT_SITE, help="whose comments to replay (default: default)"
    )
    p.set_defaults(func=_backtest)


def _add_eval(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "eval",
        help="ROC-AUC, precision and recall of a score on a labelled file",
        description=EVAL_DESCRIPTION,
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
    p.add_argument(
        "--shared",
        metavar="DATA_DIR",
        help="every source of the development data (../shared/data), one row each: the "
        "toxicity labels' ROC-AUC on its held-out fifth and the rules' outcome",
    )
    p.add_argument("--sources", help="with --shared: comma-separated source names")
    p.add_argument(
        "--test-cap",
        type=int,
        default=DEFAULT_SOURCE_TEST_CAP,
        help="with --shared: comments scored per source (a fixed sample)",
    )
    p.add_argument("--write-rows", metavar="OUT", help="also write the rows used (JSON lines)")
    p.add_argument("--json", metavar="OUT", help="write the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval)


def _add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="refit the offline toxicity model on labelled comments (CSV/TSV/JSON lines)",
        description=TRAIN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument("--text-column", help=f"default: first of {', '.join(DEFAULT_TEXT_COLUMNS)}")
    p.add_argument("--label-column", help=f"default: first of {', '.join(DEFAULT_LABEL_COLUMNS)}")
    p.add_argument("--label-map", help="e.g. 'OFF=1,NOT=0'; unmapped labels are skipped")
    p.add_argument("--out", help="where to write the model (default: the shipped one)")
    p.add_argument(
        "--epochs",
        type=float,
        help=f"passes over the training data (default {DEFAULT_EPOCHS:g}; "
        f"{DEFAULT_SHARED_EPOCHS:g} with --shared)",
    )
    p.add_argument("--limit", type=int, help="train on a random N examples")
    p.add_argument("--seed", type=int, default=DEFAULT_SPLIT_SEED)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--prepare-splits",
        metavar="DATA_DIR",
        help="write fixed-seed train/test splits of the development data instead of training",
    )
    p.add_argument("--out-dir", default="var/splits", help="with --prepare-splits")
    p.add_argument(
        "--fit-relevance",
        metavar="CONTEXT_DIR",
        help="refit the relevance calibration on the off-topic set built from CONTEXT_DIR",
    )
    p.add_argument("--test-fraction", type=float, default=DEFAULT_TEST_FRACTION)
    p.add_argument(
        "--shared",
        metavar="DATA_DIR",
        help="train the multi-label model on the development data's sources (their "
        "training parts; see moderation/offline/sources.py for which teaches which label)",
    )
    p.add_argument(
        "--hold-out",
        action="append",
        metavar="SOURCE",
        help="with --shared: leave this source out of training (repeatable)",
    )
    p.add_argument(
        "--train-cap",
        type=int,
        default=DEFAULT_SOURCE_TRAIN_CAP,
        help="with --shared: training comments per source at most (a fixed sample)",
    )
    p.add_argument(
        "--cross-source",
        metavar="OUT",
        help="with --shared: train one model per source left out, judge each on that source, "
        "write the figures to OUT (JSON); ships nothing",
    )
    p.add_argument(
        "--states-cache",
        metavar="FILE",
        help="with --shared: keep MiniLM's lower-layer states of the texts in FILE and reuse "
        "them on the next run (encoding is most of the time; about 1.5 GB for all sources)",
    )
    p.add_argument(
        "--tuned-layers",
        type=int,
        default=DEFAULT_TUNED_LAYERS,
        metavar="N",
        help="with --shared: fine-tune MiniLM's top N layers (default %(default)s; each more "
        "is one more layer per comment that relevance cannot share: docs/scoring.md)",
    )
    p.add_argument(
        "--restack",
        metavar="MODEL",
        help="with --shared: keep MODEL's tuned layers and fit only its stacks again, on the "
        "comments training set aside for them (writes --out, default the shipped file)",
    )
    p.add_argument(
        "--perspective-scale",
        action="store_true",
        help="with --shared: fit the shipped model's map to Perspective's levels on "
        "Perspective's own scores (their training part), report it on the fifth held out, "
        "and write it beside the model (or to --out)",
    )
    p.add_argument("--rules", help="with --cross-source: rules file (default: MODERATION_RULES)")
    p.add_argument(
        "--test-cap",
        type=int,
        default=DEFAULT_SOURCE_TEST_CAP,
        help="with --cross-source: comments scored per source (a fixed sample)",
    )
    p.set_defaults(func=_train)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ModerationError as exc:
        print(f"moderation: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
