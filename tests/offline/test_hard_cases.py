"""The project's own hard cases for the toxicity model (moderation/offline/data/hard_cases.csv):
the file's shape, its contrast pairs and its labels, read with the project's one reader."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from moderation.offline.datasets import read_examples, read_records
from tests.conftest import ROOT

HARD_CASES = ROOT / "moderation" / "offline" / "data" / "hard_cases.csv"
HEADER = ["case_id", "category", "pair", "text", "toxicity", "identity_attack", "threat", "insult"]
LABELS = ("toxicity", "identity_attack", "threat", "insult")
CATEGORIES = {
    "counter_speech",
    "negated_hate",
    "identity_neutral",
    "reclaimed_self",
    "polite_threat",
    "polite_dehumanisation",
    "emoji_hate",
    "obfuscated",
    "profanity_no_target",
}
MIN_PER_CATEGORY = 14


def _rows(path: Path = HARD_CASES) -> list[dict[str, Any]]:
    return [row for _, row in read_records(path)]


def _pair_problems(rows: list[dict[str, Any]]) -> list[str]:
    """Each ``pair`` names another row of the same category that names this row back and
    differs from it in toxicity (or, in ``polite_threat``, in threat)."""
    by_id = {row["case_id"]: row for row in rows}
    problems = []
    for row in rows:
        me, other_id = row["case_id"], row["pair"]
        if not other_id:
            continue
        other = by_id.get(other_id)
        if other is None or other_id == me:
            problems.append(f"{me}: pair {other_id!r} is not another row")
            continue
        if other["pair"] != me:
            problems.append(f"{me}: pair {other_id} names {other['pair']!r} back, not {me}")
        if other["category"] != row["category"]:
            problems.append(f"{me}: pair {other_id} is in {other['category']}")
        differs = "threat" if row["category"] == "polite_threat" else "toxicity"
        if other[differs] == row[differs]:
            problems.append(f"{me}: pair {other_id} has the same {differs}")
    return problems


def test_header_and_every_row_has_its_eight_fields():
    rows = _rows()
    assert list(rows[0]) == HEADER
    # csv.DictReader puts extra fields under None and fills missing ones with None.
    ragged = [row["case_id"] for row in rows if list(row) != HEADER or None in row.values()]
    assert ragged == []
    assert 160 <= len(rows) <= 220


def test_ids_are_unique_and_numbered_in_order():
    ids = [row["case_id"] for row in _rows()]
    assert len(set(ids)) == len(ids)
    assert ids == [f"hc-{n:03d}" for n in range(1, len(ids) + 1)]


def test_labels_are_0_or_1_and_every_attribute_implies_toxicity():
    rows = _rows()
    assert [
        (row["case_id"], name) for row in rows for name in LABELS if row[name] not in ("0", "1")
    ] == []
    assert [
        (row["case_id"], name)
        for row in rows
        for name in LABELS[1:]
        if row[name] == "1" and row["toxicity"] != "1"
    ] == []


def test_pairs_are_symmetric_and_differ_in_their_label():
    rows = _rows()
    assert _pair_problems(rows) == []
    assert sum(1 for row in rows if row["pair"]) % 2 == 0


@pytest.mark.parametrize(
    ("edit", "problems"),
    [
        ({"hc-002": {"pair": ""}}, ["hc-001: pair hc-002 names '' back, not hc-001"]),
        (
            {"hc-002": {"toxicity": "0"}},
            [
                "hc-001: pair hc-002 has the same toxicity",
                "hc-002: pair hc-001 has the same toxicity",
            ],
        ),
        (
            {"hc-001": {"pair": "hc-999"}},
            [
                "hc-001: pair 'hc-999' is not another row",
                "hc-002: pair hc-001 names 'hc-999' back, not hc-002",
            ],
        ),
        (
            {"hc-001": {"pair": "hc-001"}},
            [
                "hc-001: pair 'hc-001' is not another row",
                "hc-002: pair hc-001 names 'hc-001' back, not hc-002",
            ],
        ),
    ],
)
def test_pair_check_names_the_broken_pair(edit: dict[str, dict[str, str]], problems: list[str]):
    rows = [dict(row) for row in _rows()]
    for row in rows:
        row.update(edit.get(row["case_id"], {}))
    assert _pair_problems(rows) == problems


def test_pair_check_names_a_threat_pair_with_the_same_threat():
    rows = [dict(row) for row in _rows()]
    first = next(row for row in rows if row["category"] == "polite_threat" and row["pair"])
    partner = next(row for row in rows if row["case_id"] == first["pair"])
    partner["threat"] = first["threat"]
    assert _pair_problems(rows) == [
        f"{first['case_id']}: pair {partner['case_id']} has the same threat",
        f"{partner['case_id']}: pair {first['case_id']} has the same threat",
    ]


def test_every_category_is_large_enough_holds_both_labels_and_is_mostly_pairs():
    rows = _rows()
    assert {row["category"] for row in rows} == CATEGORIES
    sizes = Counter(row["category"] for row in rows)
    assert {c: n for c, n in sizes.items() if n < MIN_PER_CATEGORY} == {}
    toxicities = {c: {row["toxicity"] for row in rows if row["category"] == c} for c in sizes}
    assert {c: t for c, t in toxicities.items() if t != {"0", "1"}} == {}
    paired = Counter(row["category"] for row in rows if row["pair"])
    assert {c: paired[c] for c in sizes if 2 * paired[c] < sizes[c]} == {}


def test_texts_are_reader_comments_of_5_to_60_words():
    assert [
        row["case_id"]
        for row in _rows()
        if row["text"] != row["text"].strip() or not 5 <= len(row["text"].split()) <= 60
    ] == []


def test_moderation_eval_reads_text_and_toxicity_by_default():
    rows = _rows()
    examples = read_examples(HARD_CASES)
    assert [(e.text, e.label) for e in examples] == [
        (row["text"], int(row["toxicity"])) for row in rows
    ]
