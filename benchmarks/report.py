"""The run's figures as a table, a JSON file and a PNG (latency distribution, throughput
over time, pipeline against the raw model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
JSON_PATH = RESULTS / "pipeline.json"
PNG_PATH = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "pipeline.png"


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _latency(lat: dict[str, Any] | None) -> str:
    if not lat:
        return "-"
    text = " / ".join(_fmt(lat[k], 0) for k in ("p50_ms", "p95_ms", "p99_ms"))
    if lat["decided"] < lat["comments"]:
        text += f" ({lat['comments'] - lat['decided']} undecided)"
    return text


def _quantiles(lat: dict[str, Any]) -> str:
    return " / ".join(_fmt(lat[k], 0) for k in ("p50_ms", "p95_ms", "p99_ms"))


def _cores(cpu: dict[str, float]) -> str:
    """ "worker-1 0.93, api 0.41, ... of 2": each process's cores, busiest first."""
    parts = sorted(
        ((k, v) for k, v in cpu.items() if k not in {"total", "machine"}), key=lambda kv: -kv[1]
    )
    text = ", ".join(f"{k} {v:.2f}" for k, v in parts)
    return f"{text} (of {cpu.get('machine', 0):.0f})"


def _check(ok: bool | None) -> str:
    return "" if ok is None else ("yes" if ok else "NO")


def format_table(result: dict[str, Any]) -> str:
    runs = result["runs"]
    heads = [f"W={r['workers']}" for r in runs]
    raw = result["raw"]
    targets = result["targets"]
    ratios = result["ratios"]
    rows: list[tuple[str, list[str], str, str]] = []

    def row(name: str, cells: list[str], target: str = "", met: bool | None = None) -> None:
        rows.append((name, cells, target, _check(met)))

    def per_run(fn: Any) -> list[str]:
        return [fn(r) for r in runs]

    for path, label in (("batch", "POST /v1/comments/batch"), ("single", "single POSTs")):
        row(
            f"pipeline, {label} (decisions/s)",
            per_run(lambda r, p=path: _fmt(r["throughput"][p]["decisions_per_s"], 2)),
        )
    row(
        "raw: one MiniLM pass (comments/s)",
        [_fmt(raw["comments_per_s"], 2)] + [""] * (len(runs) - 1),
    )
    scorers = result.get("scorers")
    if scorers:
        row(
            "scorers alone, in one process (comments/s; / raw)",
            [f"{_fmt(scorers['comments_per_s'], 2)} ({_fmt(ratios.get('scorers_to_raw'), 3)})"],
        )
    first = runs[0]
    lo = targets["pipeline_to_raw"]
    for key, name in (("pipeline_batch_to_raw", "batch"), ("pipeline_single_to_raw", "single")):
        value = ratios[key]
        row(
            f"pipeline / raw, {name}",
            [_fmt(value, 3)],
            f">= {lo}",
            value is not None and value >= lo,
        )
    for path in ("batch", "single"):
        value = ratios.get(f"pipeline_{path}_to_scorers")
        if value is not None:
            row(f"  pipeline / scorers alone, {path}", [_fmt(value, 3)])
    for path in ("batch", "single"):
        value = ratios.get(f"pipeline_{path}_to_raw_per_core")
        if value is not None:
            row(f"  per core used (decisions per worker CPU-s / raw per CPU-s), {path}",
                [_fmt(value, 3)])  # fmt: skip
    cpu = first.get("cpu_cores") or {}
    for path in ("batch", "single"):
        if path in cpu:
            row(f"  cores used during {path} throughput", [_cores(cpu[path])])
    raw_cores = raw.get("cores_used")
    if raw_cores is not None:
        row("  cores used by the raw pass", [_fmt(raw_cores, 2)])
    with_spans = first.get("with_spans")
    if with_spans:
        row(
            "capacity with the spans, batch / single (comments/s)",
            [" / ".join(_fmt(with_spans[p]["comments_per_s"], 2) for p in ("batch", "single"))],
        )
    lat = first.get("latency")
    p99 = lat["p99_ms"] if lat else None
    limit = targets["p99_ms_at_half_capacity"]
    row(
        f"latency at 50% capacity ({_fmt(lat['offered_per_s'], 2) if lat else '-'}/s), "
        "p50/p95/p99 (ms)",
        [_latency(lat)],
        f"p99 <= {limit:.0f}",
        p99 is not None and p99 <= limit,
    )
    bulk = first.get("bulk")
    row(
        f"latency during a {bulk['bulk_comments'] if bulk else '-'}-comment import (ms)",
        [_latency(bulk["singles"] if bulk else None)],
    )
    if bulk:
        row(
            "  import comments decided before the last single",
            [f"{bulk['bulk_decided_before_last_single']} of {bulk['bulk_comments']}"],
        )
    ingest = result["ingest"]
    limit = targets["ingest_batch_per_s"]
    value = ingest["batch"]["per_s"]
    row("API ingest alone, batch (comments/s)", [_fmt(value)], f">= {limit:.0f}", value >= limit)
    row("API ingest alone, single (comments/s)", [_fmt(ingest["single"]["per_s"])])
    row("peak RSS, API (MB)", per_run(lambda r: _fmt(r["rss_mb"]["api"], 0)))
    limit = targets["worker_rss_mb"]
    worst = max((w for r in runs for w in r["rss_mb"]["workers"]), default=0.0)
    row(
        "peak RSS, each worker (MB)",
        per_run(lambda r: " / ".join(_fmt(w, 0) for w in r["rss_mb"]["workers"])),
        f"<= {limit:.0f}",
        worst <= limit,
    )
    for path in ("batch", "single"):
        value = ratios[f"scale_out_{path}_2_to_1"]
        if value is not None:
            row(f"scale-out, 2 workers / 1, {path}", [_fmt(value, 2)])

    perspective = result.get("perspective")
    if perspective:
        single, spans = perspective["single"], perspective.get("spans")
        row("Perspective analyze, one at a time, p50/p95/p99 (ms)", [_quantiles(single)])
        row(
            "  answered within Coral's 800 ms / Discourse's 3 s",
            [" / ".join(f"{100 * share:.0f}%" for share in single["within_ms"].values())],
        )
        if spans:
            row("  with spanAnnotations, p50/p95/p99 (ms)", [_quantiles(spans)])
        for run in perspective["concurrent"]:
            row(
                f"  {run['clients']} concurrent client(s) (requests/s; p99 ms)",
                [f"{_fmt(run['per_s'])}; {_fmt(run['latency']['p99_ms'], 0)}"],
            )
        row("  peak RSS, API with the analyzer (MB)", [_fmt(perspective["rss_mb"]["api"], 0)])

    repeated = result.get("rounds")
    if repeated:
        medians, values = repeated["median"], repeated["values"]
        row(f"median of {repeated['count']} rounds (targets judged on these):", [])
        judged: tuple[tuple[str, str, int, str, float | None], ...] = (
            ("pipeline_batch_to_raw", "pipeline / raw, batch", 3, ">=", lo),
            ("pipeline_single_to_raw", "pipeline / raw, single", 3, ">=", lo),
            ("p99_ms_at_half_capacity", "p99 at 50% capacity (ms)", 0, "<=",
             targets["p99_ms_at_half_capacity"]),
            ("ingest_batch_per_s", "API ingest alone, batch (comments/s)", 0, ">=",
             targets["ingest_batch_per_s"]),
            ("worker_rss_mb", "peak RSS, worst worker (MB)", 0, "<=", targets["worker_rss_mb"]),
            ("scale_out_batch_2_to_1", "scale-out 2/1, batch", 2, "", None),
            ("scale_out_single_2_to_1", "scale-out 2/1, single", 2, "", None),
        )  # fmt: skip
        for key, label, digits, sense, limit in judged:
            median = medians.get(key)
            if median is None:
                continue
            each = ", ".join(_fmt(float(v), digits) for v in values[key])
            met = None
            if limit is not None:
                met = median >= limit if sense == ">=" else median <= limit
            shown = "" if limit is None else f"{sense} {limit:g}"
            row(f"  {label} [{each}]", [_fmt(float(median), digits)], shown, met)

    name_w = max(len(r[0]) for r in rows)
    cell_w = max([len(h) for h in heads] + [len(c) for r in rows for c in r[1]])
    lines = [
        f"{'figure':<{name_w}}  " + "  ".join(f"{h:>{cell_w}}" for h in heads) + "  target   met",
    ]
    for name, cells, target, met in rows:
        cells = cells + [""] * (len(heads) - len(cells))
        line = f"{name:<{name_w}}  " + "  ".join(f"{c:>{cell_w}}" for c in cells)
        lines.append(f"{line}  {target:<8} {met}".rstrip())
    machine = result["machine"]
    lines.append(
        f"{result['corpus']['source']} corpus, {result['database']}, {machine['cpus']} cpus, "
        f"load {machine['load_average_at_start'][0]} -> {machine['load_average_at_end'][0]}; "
        "latency = decision's decided_at minus the client's clock before the POST"
    )
    return "\n".join(lines)


def write_json(result: dict[str, Any], path: Path = JSON_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def draw_png(result: dict[str, Any], path: Path = PNG_PATH) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import FuncFormatter, NullFormatter

    runs = result["runs"]
    first = runs[0]
    fig, (ax_lat, ax_tp, ax_bar) = plt.subplots(
        1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1.1, 1.3, 0.9]}
    )

    # Latency distribution (CDF); undecided comments keep the curve below 1.
    curves = []
    if first.get("latency"):
        curves.append(("50% of capacity", first["latency"]))
    if first.get("bulk"):
        curves.append((f"during a {first['bulk']['bulk_comments']}-comment import",
                       first["bulk"]["singles"]))  # fmt: skip
    for label, lat in curves:
        samples = np.sort(np.array(lat["samples_ms"], dtype=float))
        if samples.size:
            y = np.arange(1, samples.size + 1) / max(1, lat["comments"])
            ax_lat.step(np.maximum(samples, 1.0), y, where="post", label=label)
    target = result["targets"]["p99_ms_at_half_capacity"]
    ax_lat.axvline(target, color="grey", ls=":", lw=1, label=f"p99 target, {target:g} ms")
    ax_lat.set_xscale("log")
    ax_lat.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax_lat.xaxis.set_minor_formatter(NullFormatter())
    ax_lat.set_ylim(0, 1.02)
    ax_lat.set_xlabel("submit to decision (ms, log)")
    ax_lat.set_ylabel("share of single comments decided")
    ax_lat.set_title(f"latency, W={first['workers']}", fontsize=10)
    ax_lat.legend(fontsize=8, loc="lower right")
    ax_lat.grid(alpha=0.3)

    # Throughput over time: decisions so far against seconds since the first submit (the
    # slope is the throughput; jobs finishing together show as steps).
    for r in runs:
        for lane, style in (("batch", "-"), ("single", "--")):
            run = r["throughput"][lane]
            offsets = np.sort(np.array(run["decided_offsets"], dtype=float))
            if offsets.size:
                label = f"{lane}, W={r['workers']}: {run['decisions_per_s']:.1f}/s"
                ax_tp.step(np.r_[0.0, offsets], np.arange(offsets.size + 1), style,
                           where="post", label=label)  # fmt: skip
    ax_tp.set_xlabel("seconds from the first submit")
    ax_tp.set_ylabel("comments decided")
    ax_tp.set_title("pipeline throughput over time", fontsize=10)
    ax_tp.legend(fontsize=8, loc="lower right")
    ax_tp.grid(alpha=0.3)

    # Pipeline against the raw model, same texts.
    labels = ["raw MiniLM"]
    values = [result["raw"]["comments_per_s"]]
    for r in runs:
        for lane in ("batch", "single"):
            labels.append(f"{lane} W={r['workers']}")
            values.append(r["throughput"][lane]["decisions_per_s"])
    colors = ["#888888"] + ["C0", "C1"] * len(runs)
    ax_bar.barh(labels[::-1], values[::-1], color=colors[::-1])
    ax_bar.set_xlabel("comments / s")
    ax_bar.set_title("pipeline vs one model pass", fontsize=10)
    ax_bar.grid(alpha=0.3, axis="x")
    ax_bar.tick_params(axis="y", labelsize=8)

    fig.suptitle(
        f"make bench: {result['corpus']['source']} comments, {result['database']}, "
        f"{result['machine']['cpus']} cpus, {result['when']}",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path
