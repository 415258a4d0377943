"""Labelled files: the one reader, text-and-label examples, backtest labels, splits, and
the off-topic set."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation.exceptions import ConfigurationError, LabelsError
from moderation.offline.datasets import (
    offtopic_examples,
    parse_label_map,
    read_examples,
    read_labels,
    read_records,
    split,
)
from tests.conftest import shared_data


def test_read_csv_and_jsonl(tmp_path: Path):
    csv_file = tmp_path / "a.csv"
    csv_file.write_text('tweet,subtask_a\n"hello, you",NOT\nidiot,OFF\nmaybe,???\n')
    examples = read_examples(
        csv_file, label_column="subtask_a", label_map=parse_label_map("OFF=1,NOT=0")
    )
    assert [(e.text, e.label) for e in examples] == [("hello, you", 0), ("idiot", 1)]
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text('{"text": "x", "label": 1}\n\n{"text": "y", "label": 0}\n')
    assert [e.label for e in read_examples(jsonl)] == [1, 0]


def test_missing_column_is_named(tmp_path: Path):
    data = tmp_path / "a.csv"
    data.write_text("body,label\nx,1\n")
    with pytest.raises(ConfigurationError, match="No text column found among body, label"):
        read_examples(data)
    with pytest.raises(ConfigurationError, match="--text-column has value 'txt'"):
        read_examples(data, text_column="txt")


def test_split_is_fixed_and_disjoint():
    items = list(range(100))
    train, test = split(items, seed=1, test_fraction=0.2)
    assert len(test) == 20 and not set(train) & set(test)
    assert split(items, seed=1, test_fraction=0.2) == (train, test)


def test_read_labels_jsonl_and_errors(tmp_path):
    good = tmp_path / "labels.jsonl"
    good.write_text('{"id": "c1", "action": "escalate"}\n\n{"comment_id": "c2", "label": 1}\n')
    assert read_labels(good) == {"c1": "escalate", "c2": "reject"}
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\nc1,1\nc2,maybe\n")
    with pytest.raises(LabelsError) as exc:
        read_labels(bad)
    assert str(exc.value) == (
        f"{bad}:3: answer 'maybe' is not one of approve, reject, escalate, 0, 1"
    )
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"id": "c1"}\n')
    with pytest.raises(LabelsError, match=r"missing.jsonl:1: needs a comment id"):
        read_labels(missing)


def test_every_reader_error_names_the_file_and_line(tmp_path: Path):
    bad_json = tmp_path / "rows.jsonl"
    bad_json.write_text('{"text": "a", "label": 1}\n\n{"text": "b", \n')
    with pytest.raises(LabelsError, match=r"rows\.jsonl:3: not JSON: "):
        list(read_records(bad_json))
    not_object = tmp_path / "list.jsonl"
    not_object.write_text('["a", 1]\n')
    with pytest.raises(LabelsError) as exc:
        read_examples(not_object)
    assert str(exc.value) == f"{not_object}:1: expected an object, got list"
    bad_label = tmp_path / "labels.csv"
    bad_label.write_text('text,label\nfine,0\n"two\nlines",0\nthird,maybe\n')
    with pytest.raises(LabelsError) as exc:
        read_examples(bad_label)
    assert str(exc.value) == (
        f"{bad_label}:5: Label 'maybe' is not 0/1; map labels with --label-map, e.g. 'maybe=1'."
    )
    with pytest.raises(LabelsError, match=r"absent\.csv: cannot read: No such file"):
        read_labels(tmp_path / "absent.csv")


def test_records_carry_their_line_numbers(tmp_path: Path):
    data = tmp_path / "rows.tsv"
    data.write_text('text\tlabel\n"quoted\t1\nplain\t0\n')
    assert list(read_records(data)) == [
        (2, {"text": '"quoted', "label": "1"}),  # tab-separated files are read unquoted
        (3, {"text": "plain", "label": "0"}),
    ]


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
