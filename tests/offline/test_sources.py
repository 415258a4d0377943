"""The development data as multi-label examples: each source's labels, on files written in
the sources' own layouts (and, where present, on the real files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moderation.offline.sources import LABELS, LabelledText, shared_sources
from tests.conftest import shared_data


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _fake_data(root: Path) -> Path:
    spans = "toxicity/civil_comments_toxic_spans/"
    _write(root, spans + "comments.csv", "comment_id,comment_text\n1,You idiots will pay\n2,  \n")
    _write(
        root,
        spans + "annotations.csv",
        "annotation,comment_id,worker,country,all toxic,not toxic\n"
        "10,1,a,USA,False,False\n11,1,b,USA,False,False\n12,1,c,USA,False,True\n"
        "13,2,a,USA,False,True\n",
    )
    _write(
        root,
        spans + "spans.csv",
        "annotation,type,start,end\n10,Insult,4,10\n11,Insult,4,10\n11,Threat,11,19\n",
    )
    _write(
        root,
        "toxicity/davidson_labeled_data.csv",
        ",count,hate_speech,offensive_language,neither,class,tweet\n"
        "0,3,3,0,0,0,hateful tweet\n1,3,0,3,0,1,rude tweet\n2,3,0,0,3,2,kind tweet\n",
    )
    _write(
        root,
        "hate/stormfront.csv",
        "file_id,user_id,subforum_id,num_contexts,label,text\n"
        "1_1,1,1,0,hate,a hateful sentence\n1_2,1,1,0,noHate,a plain sentence\n"
        "1_3,1,1,0,relation,needs its neighbours\n",
    )
    _write(root, "hate/gab_majority.csv", "text_id,hd,cv,vo,text\n1,1,1,0,degrade and attack\n")
    _write(root, "hate/toxigen_demonstrations.csv", "group,hate,text\nasian,0,a neutral fact\n")
    _write(
        root,
        "hate/hatemoji_build/train.csv",
        "entry_id,text,type,target,round.base,round.set,set,split,label_gold,matched_text,matched_id\n"
        "0,I would 🔪 them,threateninglanguage,['bla'],5,5a,original,train,1,x,1\n"
        "1,I would 👏 them,none,['bla'],5,5a,perturbation,train,0,y,0\n",
    )
    _write(
        root,
        "hate/perspective_scores_wikipedia_1k.csv",
        "id,comment_text,TOXICITY@6,SEVERE_TOXICITY@2,IDENTITY_ATTACK,INSULT,PROFANITY,"
        "SEXUALLY_EXPLICIT,THREAT,OBSCENE\n"
        "a,rude words,0.90,0.20,0.10,0.80,0.70,0.05,0.02,0.60\n",
    )
    _write(root, "toxicity/olid-training-v1.0.tsv", "id\ttweet\tsubtask_a\n1\t@USER no\tOFF\n")
    _write(
        root,
        "toxicity/insults_kaggle_train.csv",
        'Insult,Date,Comment\n1,,"you \\xc3\\xa9 fool"\n',
    )
    return root


def test_each_source_gives_the_labels_it_carries(tmp_path: Path):
    found = shared_sources(_fake_data(tmp_path))
    assert found["civil"] == [  # 3 raters: 1 ticked "not toxic"; 2 marked an insult, 1 a threat
        LabelledText(
            "You idiots will pay",
            "civil",
            {
                "toxicity": 1.0,
                "insult": 0.667,
                "threat": 0.333,
                "identity_attack": 0.0,
                "obscene": 0.0,
            },
        )  # fmt: skip
    ]
    assert [e.labels for e in found["davidson"]] == [
        {"toxicity": 1.0, "identity_attack": 1.0},
        {"toxicity": 1.0, "identity_attack": 0.0},
        {"toxicity": 0.0, "identity_attack": 0.0},
    ]
    assert [(e.text, e.labels["identity_attack"]) for e in found["stormfront"]] == [
        ("a hateful sentence", 1.0),
        ("a plain sentence", 0.0),
    ]
    assert found["gab"][0].labels == {
        "toxicity": 1.0, "identity_attack": 1.0, "threat": 1.0, "obscene": 0.0
    }  # fmt: skip
    assert found["toxigen"][0].labels == {"toxicity": 0.0, "identity_attack": 0.0}
    assert [e.labels["threat"] for e in found["hatemoji"]] == [1.0, 0.0]
    assert found["perspective"][0].labels == {
        "toxicity": 0.9, "severe_toxicity": 0.2, "obscene": 0.6, "threat": 0.02,
        "insult": 0.8, "identity_attack": 0.1, "sexual_explicit": 0.05,
    }  # fmt: skip
    assert found["olid"][0].labels == {"toxicity": 1.0}
    assert found["kaggle"] == [
        LabelledText("you é fool", "kaggle", {"toxicity": 1.0, "insult": 1.0})
    ]


def test_absent_sources_are_left_out(tmp_path: Path):
    assert set(shared_sources(tmp_path)) == {"hard_cases"}  # the project's own file: always there


def test_the_real_files_give_every_label():
    found = shared_sources(shared_data(), ["civil", "gab", "perspective"])
    carried = {label for examples in found.values() for e in examples for label in e.labels}
    assert carried == set(LABELS)
    assert len(found["civil"]) == 16100 and len(found["gab"]) == 5162


def _run(argv: list[str]) -> int:
    from moderation.cli import build_parser

    args = build_parser().parse_args(argv)
    return int(args.func(args))


def test_eval_shared_names_what_is_wrong(tmp_path: Path):
    from moderation.exceptions import ConfigurationError

    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigurationError) as err:
        _run(["eval", "--shared", str(missing)])
    assert str(err.value) == f"Option --shared has value {str(missing)!r}: not a directory."
    with pytest.raises(ConfigurationError) as err:
        _run(["train", "--shared", str(tmp_path), "--hold-out", "civl", "--quiet"])
    assert str(err.value).startswith(
        "Option --hold-out names unknown source(s) civl; expected names from civil, davidson,"
    )


@pytest.mark.slow
def test_eval_shared_prints_a_row_per_source(tmp_path: Path, capsys):
    data = _fake_data(tmp_path)
    for i in range(20):  # enough Davidson tweets that a fifth is held out
        with (data / "toxicity" / "davidson_labeled_data.csv").open("a") as handle:
            handle.write(f"{3 + i},3,0,0,3,{2 if i % 2 else 0},a tweet about item {i}\n")
    out = tmp_path / "report.json"
    assert _run(["eval", "--shared", str(data), "--quiet", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("| source | rows | trained on | tox |")
    report = json.loads(out.read_text())
    by_source = {row["source"]: row for row in report["sources"]}
    assert by_source["davidson"]["rows"] == 5  # the held-out fifth of 23
    assert by_source["hard_cases"]["evaluation_only"] is True
    assert by_source["hard_cases"]["rows"] > 100  # never trained on: all of it
    assert set(by_source["hard_cases"]["roc_auc"]) >= {"toxicity"}
    # The hard cases, category by category: the table under the table, and the figures.
    groups = by_source["hard_cases"]["groups"]
    assert {"counter_speech", "polite_threat", "emoji_hate"} <= set(groups)
    assert sum(g["rows"] for g in groups.values()) == by_source["hard_cases"]["rows"]
    for figures in groups.values():
        assert 0 < figures["abusive"] < figures["rows"]  # contrast pairs: both kinds
        assert 0.0 <= figures["toxicity_roc_auc"] <= 1.0
    assert "hard_cases, by category:" in table
    assert "| counter_speech | 24 |" in table


def test_eval_shared_names_an_unknown_source(tmp_path: Path):
    from moderation.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError) as err:
        _run(["eval", "--shared", str(tmp_path), "--sources", "civil,gabb"])
    assert str(err.value).startswith("Option --sources names unknown source(s) gabb;")
