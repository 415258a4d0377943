"""The pipeline benchmark: real comments through the real stack, as a publisher sees them.

    make bench            # = .venv/bin/python -m benchmarks --rounds 3
                          # options: [--comments N] [--workers 1,2] [--rounds N]
                          #     [--database sqlite|postgresql+psycopg://...] [--quick]

Prints a table, writes benchmarks/results/pipeline.json and docs/benchmarks/pipeline.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from benchmarks.args import counts
from benchmarks.client import BenchmarkError  # noqa: E402
from benchmarks.corpus import SHARED_DATA, length_quantiles, mix, real_texts  # noqa: E402
from benchmarks.report import JSON_PATH, PNG_PATH, draw_png, format_table, write_json  # noqa: E402
from benchmarks.suite import Options, run_suite  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--comments", type=int, help="comments per throughput run (default 400)")
    p.add_argument("--workers", type=counts("1,2"), help="worker counts to run, e.g. 1,2 (default)")
    p.add_argument(
        "--database",
        help="'sqlite' (a file in a temp dir, default) or a PostgreSQL server URL; "
        "a fresh database is created on it for each stack and dropped at the end",
    )
    p.add_argument("--quick", action="store_true", help="a small smoke run (one worker count)")
    p.add_argument(
        "--rounds",
        type=int,
        help="rounds of the raw, ingest and pipeline figures; targets are judged on the "
        "medians (make bench: 3)",
    )
    p.add_argument("--latency-comments", type=int, help="single comments for the latency run")
    p.add_argument("--bulk-comments", type=int, help="long comments in the bulk import (500)")
    p.add_argument("--bulk-timeout", type=float, help="seconds to wait for the live comments")
    p.add_argument("--data-dir", type=Path, help=f"real comments (default {SHARED_DATA})")
    p.add_argument("--json", type=Path, default=JSON_PATH, help="where the JSON goes")
    p.add_argument("--png", type=Path, default=PNG_PATH, help="where the figure goes")
    p.add_argument("--no-png", action="store_true", help="skip the figure")
    p.add_argument("--keep", action="store_true", help="keep the work dir (process logs)")
    p.add_argument(
        "--print-length-quantiles",
        action="store_true",
        help="print the real mix's length quantiles (corpus.LENGTH_QUANTILES) and exit",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.print_length_quantiles:
        data_dir = args.data_dir or SHARED_DATA
        print(length_quantiles(mix(real_texts(data_dir))))
        return 0
    given = {
        "comments": args.comments,
        "workers": args.workers,
        "database": args.database,
        "latency_comments": args.latency_comments,
        "bulk_comments": args.bulk_comments,
        "bulk_timeout": args.bulk_timeout,
        "data_dir": args.data_dir,
        "keep": args.keep or None,
        "rounds": args.rounds,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if args.quick:
        options = Options.quick_smoke(**given)
    else:
        comments = given.get("comments", Options.comments)
        given.setdefault("latency_comments", max(10, comments // 4))
        given.setdefault("ingest_comments", max(comments, 1000))
        options = Options(**given)

    started = time.monotonic()

    def log(line: str) -> None:
        print(f"[bench {time.monotonic() - started:6.1f}s] {line}", file=sys.stderr, flush=True)

    try:
        result = run_suite(options, log)
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    print(format_table(result))
    print(f"JSON: {write_json(result, args.json)}")
    if not args.no_png:
        print(f"figure: {draw_png(result, args.png)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
