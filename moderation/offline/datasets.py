"""Labelled data sets: one reader of CSV, TSV and JSON-lines files, and the sets built on it.

``read_records`` is the only place a labelled file is parsed; it yields each row with its
line number, so every problem is reported as ``file:line: what is wrong`` (a
:class:`~moderation.exceptions.LabelsError`). On top of it: ``read_examples`` (text and a 0/1
label, for ``moderation eval`` and ``moderation train``), ``read_labels`` (comment id and the
right action, for ``moderation rules backtest --labels``), and ``offtopic_examples`` (the
relevance set built from the development data's articles and comments).
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moderation.defaults import (
    DEFAULT_LABEL_COLUMNS,
    DEFAULT_OFFTOPIC_SEED,
    DEFAULT_SPLIT_SEED,
    DEFAULT_TEXT_COLUMNS,
    OFFTOPIC_PARTS,
)
from moderation.exceptions import ConfigurationError, LabelsError
from moderation.policy import Action

if TYPE_CHECKING:
    from moderation.scoring.base import ArticleInput

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass
class Example:
    text: str
    label: int
    article: str | None = None
    parent: str | None = None


# --- the reader ---------------------------------------------------------------------------
def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, row)`` for each row of a CSV/TSV file (header line) or JSON-lines file.

    A CSV row's number is the line it ends on; blank JSON lines are skipped. Tab-separated
    files (``.tsv``, or more tabs than commas in the first 4 KiB) are read unquoted, as OLID
    and the SMS Spam Collection are written."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            if path.suffix.lower() in JSON_SUFFIXES:
                for line, text in enumerate(handle, 1):
                    if text.strip():
                        yield line, _json_object(path, line, text)
                return
            csv.field_size_limit(10**8)
            sample = handle.read(4096)
            handle.seek(0)
            tabs = path.suffix.lower() == ".tsv" or sample.count("\t") > sample.count(",")
            reader = (
                csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
                if tabs
                else csv.DictReader(handle)
            )
            try:
                for row in reader:
                    yield reader.line_num, row
            except csv.Error as exc:
                raise LabelsError(f"{path}:{reader.line_num}: not CSV: {exc}") from None
    except UnicodeDecodeError as exc:  # decoded a block at a time: no line to name
        raise LabelsError(f"{path}: not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise LabelsError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _json_object(path: Path, line: int, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelsError(f"{path}:{line}: not JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise LabelsError(f"{path}:{line}: expected an object, got {type(value).__name__}")
    return value


# --- text and a 0/1 label -----------------------------------------------------------------
def parse_label_map(spec: str | None) -> dict[str, int] | None:
    """``'OFF=1,NOT=0'`` -> {'OFF': 1, 'NOT': 0}."""
    if not spec:
        return None
    mapping: dict[str, int] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep or value.strip() not in {"0", "1"}:
            raise ConfigurationError(
                f"Option --label-map has item {part!r}: expected LABEL=0 or LABEL=1, "
                "e.g. 'OFF=1,NOT=0'."
            )
        mapping[key.strip()] = int(value)
    return mapping


def _pick(
    path: Path, columns: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str
) -> str:
    if wanted:
        if wanted not in columns:
            raise LabelsError(
                f"{path}: Option --{what}-column has value {wanted!r}, which is not a column; "
                f"columns: {', '.join(columns)}."
            )
        return wanted
    for name in candidates:
        if name in columns:
            return name
    raise LabelsError(
        f"{path}: No {what} column found among {', '.join(columns)}; name it with --{what}-column."
    )


def to_label(value: Any, label_map: dict[str, int] | None) -> int | None:
    """0/1, or None for a label the map leaves out (that row is skipped); ``ValueError`` for
    a label that is neither."""
    key = str(value).strip()
    if label_map is not None:
        return label_map.get(key)
    lowered = key.lower()
    if lowered in {"1", "true", "yes", "spam", "toxic", "off", "1.0"}:
        return 1
    if lowered in {"0", "false", "no", "ham", "not", "0.0"}:
        return 0
    try:
        return int(float(key) >= 0.5)
    except ValueError:
        raise ValueError(
            f"Label {key!r} is not 0/1; map labels with --label-map, e.g. '{key}=1'."
        ) from None


def read_examples(
    path: Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    article_column: str | None = None,
    parent_column: str | None = None,
    label_map: dict[str, int] | None = None,
) -> list[Example]:
    """The rows with a text and a 0/1 label (after ``label_map``); other rows are skipped.

    Columns default to the first of ``DEFAULT_TEXT_COLUMNS`` / ``DEFAULT_LABEL_COLUMNS`` that
    the file has."""
    examples: list[Example] = []
    columns: list[str] | None = None
    text_key = label_key = ""
    for line, row in read_records(path):
        if columns is None:
            columns = list(row.keys())
            text_key = _pick(path, columns, text_column, DEFAULT_TEXT_COLUMNS, "text")
            label_key = _pick(path, columns, label_column, DEFAULT_LABEL_COLUMNS, "label")
            for option, wanted in (("article", article_column), ("parent", parent_column)):
                if wanted:
                    _pick(path, columns, wanted, (), option)
        try:
            label = to_label(row.get(label_key), label_map)
        except ValueError as exc:
            raise LabelsError(f"{path}:{line}: {exc}") from None
        text = row.get(text_key)
        if label is None or not isinstance(text, str) or not text.strip():
            continue
        article = str(row.get(article_column) or "") if article_column else None
        parent = (row.get(parent_column) or None) if parent_column else None
        examples.append(Example(text=text, label=label, article=article, parent=parent))
    return examples


def split(items: list[Any], *, seed: int, test_fraction: float) -> tuple[list[Any], list[Any]]:
    """A fixed (seeded) split into (rest, test), each in the items' order."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    cut = int(round(len(items) * test_fraction))
    test = {i for i in order[:cut]}
    return [x for i, x in enumerate(items) if i not in test], [items[i] for i in sorted(test)]


# --- comment id and the right action --------------------------------------------------------
_LABEL_ACTIONS = {
    "0": Action.APPROVE.value,
    "1": Action.REJECT.value,
    **{a.value: a.value for a in Action},
}
_ID_KEYS = ("comment_id", "id")
_LABEL_KEYS = ("action", "expected", "label")


def read_labels(path: Path) -> dict[str, str]:
    """Comment id → right action, from CSV (with a header) or JSONL.

    The id column is ``comment_id`` or ``id``; the answer column ``action``, ``expected`` or
    ``label``, holding ``approve``/``reject``/``escalate`` or ``0`` (acceptable, should be
    approved) / ``1`` (violates the policy, should be rejected).
    """
    labels: dict[str, str] = {}
    for line, row in read_records(path):
        record = {
            k.strip(): v.strip() if isinstance(v, str) else v
            for k, v in row.items()
            if isinstance(k, str) and k.strip()
        }
        cid = next((record[k] for k in _ID_KEYS if record.get(k) not in (None, "")), None)
        value = next((record[k] for k in _LABEL_KEYS if record.get(k) not in (None, "")), None)
        if cid is None or value is None:
            raise LabelsError(
                f"{path}:{line}: needs a comment id ({' or '.join(_ID_KEYS)}) and an answer "
                f"({', '.join(_LABEL_KEYS)}); got keys {', '.join(map(str, record)) or 'none'}"
            )
        action = _LABEL_ACTIONS.get(str(value).strip().lower())
        if action is None:
            raise LabelsError(
                f"{path}:{line}: answer {value!r} is not one of approve, reject, escalate, 0, 1"
            )
        labels[str(cid)] = action
    return labels


# --- the off-topic set ----------------------------------------------------------------------
def offtopic_examples(
    context_dir: Path, *, seed: int = DEFAULT_OFFTOPIC_SEED, part: str = "all"
) -> list[dict[str, Any]]:
    """Comments of ``globe_comments_dev.csv`` under their own article (label 1, with the parent
    text for replies) and under a randomly chosen other article (label 0, no parent).

    ``part``: "fit" or "test" keeps one half of the threads (fixed split; the relevance
    calibration is fitted on "fit" and reported on "test")."""
    if part not in OFFTOPIC_PARTS:
        raise ConfigurationError(f"off-topic part {part!r}: expected one of {OFFTOPIC_PARTS}")
    articles = {
        row["article_id"]: row for _, row in read_records(context_dir / "globe_articles.csv")
    }
    comments = [
        row
        for _, row in read_records(context_dir / "globe_comments_dev.csv")
        if row["status"] == "published" and row["comment_text"].strip()
    ]
    texts = {row["comment_id"]: row["comment_text"] for row in comments}
    rng = random.Random(seed)
    others = sorted(articles)
    rows: list[dict[str, Any]] = []
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
        fit_threads, _ = split(threads, seed=DEFAULT_SPLIT_SEED, test_fraction=0.5)
        keep = set(fit_threads)
        rows = [row for row in rows if (row["thread"] in keep) == (part == "fit")]
    return rows


def _strip_site(title: str) -> str:
    return title.removesuffix(" - The Globe and Mail").strip()


def article_from_text(text: str, ident: str) -> ArticleInput:
    """A data set's article text as the scorers' input: a short first paragraph (up to 300
    characters, followed by a blank line) is its title."""
    from moderation.scoring.base import ArticleInput

    head, sep, rest = text.partition("\n\n")
    if sep and len(head) <= 300:
        return ArticleInput(id=ident, title=head.strip(), body=rest.strip())
    return ArticleInput(id=ident, title="", body=text)
