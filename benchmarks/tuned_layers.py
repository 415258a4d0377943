"""What fine-tuning more of MiniLM costs: the scorers alone (``ScorerSet.score`` in jobs of
64, as a worker calls it) on the same real comments with two toxicity model files, in
alternating rounds in one process, so the ratio is measured on the same machine state.

    .venv/bin/python -m benchmarks.tuned_layers A.npz B.npz [--comments N] [--rounds N]

A model whose tuned layers start lower (``first_layer`` 4 for two layers, 5 for one) runs
one more MiniLM layer of its own per comment; the shared pass (relevance's embedding and the
lower layers' states) is the same for both. Writes benchmarks/results/tuned_layers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.corpus import load_corpus
from benchmarks.inprocess import JOB_SIZE

RESULTS = Path(__file__).resolve().parent / "results" / "tuned_layers.json"


def compare(paths: list[Path], *, comments: int, rounds: int) -> dict[str, Any]:
    from moderation.scoring import ArticleInput, CommentInput, build_scorers
    from moderation.scoring.lexical import OfflineToxicityScorer
    from moderation.scoring.toxicity_model import ToxicityModel
    from moderation.settings import Settings

    corpus = load_corpus()
    batch = corpus.stream("tuned").take("ab", comments)
    scorers = build_scorers(Settings(_env_file=None), redis=None)
    toxicity = next(s for s in scorers.scorers if isinstance(s, OfflineToxicityScorer))
    embedder = toxicity.embedder
    if embedder is None:
        raise SystemExit("the offline toxicity scorer has no MiniLM: nothing to compare")
    models = [ToxicityModel.load(path, embedder) for path in paths]
    by_id = {a.id: a for a in corpus.articles}
    inputs: dict[str, ArticleInput] = {}
    for c in batch:
        if c.article_id not in inputs:
            a = by_id[c.article_id]
            base = ArticleInput(id=a.id, title=a.title, body=a.body)
            inputs[a.id] = replace(base, features=scorers.article_features(base))
    seconds: list[list[float]] = [[] for _ in models]
    for round_ in range(rounds + 1):  # round 0 warms each model up and is not counted
        for index, model in enumerate(models):
            toxicity.model = model
            embedder.keep_states(layer=model.first_layer, tokens=model.max_tokens)
            tag = f" {round_}.{index}"  # other texts each time: no read is remembered
            begin = time.perf_counter()
            for i in range(0, len(batch), JOB_SIZE):
                scorers.score(
                    [
                        CommentInput(c.id, c.text + tag, c.author_id, inputs[c.article_id])
                        for c in batch[i : i + JOB_SIZE]
                    ]
                )
            if round_:
                seconds[index].append(time.perf_counter() - begin)
    rows: list[dict[str, Any]] = []
    for path, model, times in zip(paths, models, seconds, strict=True):
        median = statistics.median(times)
        rows.append(
            {
                "model": path.name,
                "tuned_layers": len(model.top.layers),
                "file_bytes": path.stat().st_size,
                "seconds": [round(t, 3) for t in times],
                "comments_per_s": round(comments / median, 2),
            }
        )
    return {
        "comments": comments,
        "rounds": rounds,
        "models": rows,
        "rate_ratio_b_over_a": round(rows[1]["comments_per_s"] / rows[0]["comments_per_s"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tuned_layers", description=__doc__)
    p.add_argument("models", nargs=2, type=Path, help="two toxicity model files, A and B")
    p.add_argument("--comments", type=int, default=512)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    result = compare(list(args.models), comments=args.comments, rounds=args.rounds)
    for row in result["models"]:
        print(
            f"{row['model']}: {row['tuned_layers']} tuned layer(s), {row['file_bytes']:,} bytes, "
            f"{row['comments_per_s']} comments/s (median of {args.rounds})"
        )
    print(f"B ÷ A: {result['rate_ratio_b_over_a']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
