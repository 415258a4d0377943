from __future__ import annotations

import pytest

from moderation.exceptions import ConfigurationError
from moderation.perspective.attributes import (
    Inputs,
    base_name,
    load_table,
    parse_table,
    shortness,
)


def test_the_table_names_every_attribute_of_the_issue():
    assert [a.name for a in load_table()] == [
        "TOXICITY",
        "SEVERE_TOXICITY",
        "IDENTITY_ATTACK",
        "INSULT",
        "PROFANITY",
        "THREAT",
        "SEXUALLY_EXPLICIT",
        "OFF_TOPIC",
        "SPAM",
        "UNSUBSTANTIAL",
        "LIKELY_TO_REJECT",
    ]


def test_detoxify_labels_map_one_to_one_and_profanity_reads_obscene():
    table = load_table()
    assert {a.name: a.score for a in table if a.source == "score"} == {
        "TOXICITY": "toxicity",
        "SEVERE_TOXICITY": "severe_toxicity",
        "IDENTITY_ATTACK": "identity_attack",
        "INSULT": "insult",
        "PROFANITY": "obscene",
        "THREAT": "threat",
        "SEXUALLY_EXPLICIT": "sexual_explicit",
        "SPAM": "spam",
    }


def test_languages_per_backend():
    table = load_table()
    toxicity = table.get("TOXICITY")
    assert toxicity is not None
    assert toxicity.languages_for("offline") == ("en",)
    assert toxicity.languages_for("detoxify:original") == ("en",)
    assert toxicity.languages_for("detoxify:multilingual") == (
        "en", "fr", "es", "it", "pt", "tr", "ru",
    )  # fmt: skip
    insult = table.get("INSULT")
    assert insult is not None and insult.languages_for("offline") == ("en",)  # the model has it
    assert insult.languages_for("no-such-backend") == ()
    off_topic = table.get("OFF_TOPIC")
    assert off_topic is not None and off_topic.languages_for("detoxify:multilingual") == ("en",)


def test_values_are_formed_as_documented():
    table = load_table()
    scores = {"toxicity": 0.8, "relevance": 0.25, "spam": 0.1}

    def value(name: str, words: int = 10, decision: str | None = None) -> float:
        attr = table.get(name)
        assert attr is not None
        return attr.value(Inputs(scores=scores, words=words, decision=decision))

    assert value("TOXICITY") == 0.8
    assert value("OFF_TOPIC") == 0.75
    # 10 words: shortness (15 - 10) / (15 - 3) = 5/12.
    assert value("UNSUBSTANTIAL") == pytest.approx(0.75 * 5 / 12)
    assert value("UNSUBSTANTIAL", words=2) == 0.75
    assert value("UNSUBSTANTIAL", words=15) == 0.0
    assert [value("LIKELY_TO_REJECT", decision=d) for d in ("reject", "escalate", "approve")] == [
        1.0,
        0.5,
        0.0,
    ]


def test_shortness_is_linear_between_the_bounds():
    assert [shortness(w, 3, 15) for w in (0, 3, 9, 15, 40)] == [1.0, 1.0, 0.5, 0.0, 0.0]


def test_a_version_after_the_name_is_ignored():
    assert base_name("TOXICITY@6") == "TOXICITY"
    assert load_table().get("TOXICITY@6") is load_table().get("TOXICITY")
    assert load_table().get("FOO") is None


def test_a_new_label_is_an_attribute_by_data_alone():
    table = parse_table(
        "attributes:\n"
        "  FLIRTATION:\n    source: score\n    score: flirtation\n    languages: {'*': [en]}\n"
    )
    attr = table.get("FLIRTATION")
    assert attr is not None
    assert attr.value(Inputs(scores={"flirtation": 0.3}, words=1)) == 0.3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "attributes:\n  X: {source: score, languages: {'*': [en]}}\n",
            "t.yaml: attributes.X: source 'score' needs score",
        ),
        (
            "attributes:\n  X: {source: magic, score: a, languages: {'*': [en]}}\n",
            "t.yaml: attributes.X.source: Input should be 'score', 'complement', "
            "'unsubstantial' or 'rules'",
        ),
        (
            "attributes:\n  X: {source: score, score: a, languages: {'*': [en]}, colour: red}\n",
            "t.yaml: attributes.X.colour: Extra inputs are not permitted",
        ),
        (
            "attributes:\n  X: {source: unsubstantial, score: a, short_words: 9, long_words: 3,"
            " languages: {'*': [en]}}\n",
            "t.yaml: attributes.X: short_words must be less than long_words",
        ),
    ],
)
def test_a_broken_table_names_the_bad_key(text: str, message: str):
    with pytest.raises(ConfigurationError) as caught:
        parse_table(text, "t.yaml")
    assert str(caught.value) == message
