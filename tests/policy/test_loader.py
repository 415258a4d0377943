from __future__ import annotations

from pathlib import Path

import pytest

from moderation.exceptions import RulesError
from moderation.policy import Action, RuleSet, load_rules, load_rules_text

from .helpers import DEFAULT_RULES, FIXTURES, make_ctx

BAD = FIXTURES / "bad"
GOOD = FIXTURES / "good"
SCORES = ["relevance", "spam", "toxicity"]
CONDITIONS = (
    "all, any, not, score, words, phrases, regex, count, history, first_comment, author, "
    "section, tags, article_age, reply, reports, author_status"
)
STATUSES = "trusted, normal, premoderated, suspended, banned"
NOT_A_STATUS = f"is not an author status; expected one of {STATUSES}"
TOP_KEYS = "extends, default, lists, remove, rules, tests"
ONLY_DATA = (
    "a rules file holds only data (strings, numbers, true/false, null, dates, lists and mappings)"
)
LINEAR = "it runs every pattern in time linear in the text"
NO_LOOKAROUND = (
    f"RE2 has no look-ahead or look-behind: (?=...), (?!...), (?<=...), (?<!...); {LINEAR}"
)
NO_BACKREFERENCES = f"RE2 has no backreferences such as \\1 or (?P=name); {LINEAR}"

# What `moderation rules check` prints for each broken fixture, after "<path>:".
EXPECTED_ERRORS = {
    "syntax.yaml": [
        "6:11: invalid YAML: expected ',' or '}', but got ':' "
        "(while parsing a flow mapping started on line 5)",
    ],
    "duplicate_keys.yaml": [
        "7:5: duplicate key 'action' in rules[0] (first given on line 6)",
        "8:1: duplicate key 'default' at the top level (first given on line 1)",
    ],
    "duplicate_ids.yaml": [
        "10:5: rules[2].id: duplicate rule id 'toxic' (first used by rules[0] on line 4)",
    ],
    "unknown_keys.yaml": [
        f"3:1: unknown key 'rule' at the top level; expected one of: {TOP_KEYS}",
        "7:29: unknown key 'thresold' in rules[0].when; "
        "expected one of: score, gte, gt, lt, lte, between",
        "9:5: unknown key 'prio' in rules[0]; "
        "expected one of: id, when, action, message, priority, labels, reason",
        f"11:12: unknown condition 'toxicity' in rules[1].when; expected one of: {CONDITIONS}",
    ],
    "unknown_score.yaml": [
        "7:12: unknown score 'toxicty' in rules[0].when.any[0].score; "
        "active scorers produce: relevance, spam, toxicity",
        "8:12: unknown score 'threat' in rules[0].when.any[1].score; "
        "active scorers produce: relevance, spam, toxicity",
        "10:5: unknown score 'insult' in rules[0].message; "
        "active scorers produce: relevance, spam, toxicity",
        "13:29: unknown score 'relevence' in tests[0].scores.relevence; "
        "active scorers produce: relevance, spam, toxicity",
    ],
    "bad_regex.yaml": [
        f"5:12: rules[0].when.regex: RE2 cannot compile '(?<=buy )now': "
        f"invalid perl operator: (?<=; {NO_LOOKAROUND}",
        "9:13: rules[1].when.not.regex: RE2 cannot compile '(unclosed': missing ): (unclosed",
        f"12:12: rules[2].when.regex: RE2 cannot compile '(\\\\w+) \\\\1': "
        f"invalid escape sequence: \\1; {NO_BACKREFERENCES}",
        f"15:12: rules[3].when.regex: RE2 cannot compile '(?P<w>a)(?P=w)': "
        f"invalid perl operator: (?P; {NO_BACKREFERENCES}",
        f"18:12: rules[4].when.regex: RE2 cannot compile 'buy(?! now)': "
        f"invalid perl operator: (?!; {NO_LOOKAROUND}",
        "21:12: rules[5].when.regex: RE2 cannot compile 'a++b': bad repetition operator: ++; "
        f"RE2 has no possessive repeats such as a++ or a*+; {LINEAR}",
    ],
    "yaml_tags.yaml": [
        f"2:10: YAML tag '!!python/object:collections.OrderedDict' is not allowed: {ONLY_DATA}",
        f"5:11: YAML tag '!!python/object/apply:os.system' is not allowed: {ONLY_DATA}",
        f"8:19: YAML tag '!secret' is not allowed: {ONLY_DATA}",
        f"9:14: YAML tag '!!binary' is not allowed: {ONLY_DATA}",
    ],
    "aliases.yaml": [
        "5:11: the value of anchor '&loop' contains an alias of itself; "
        "a rules file cannot be recursive",
    ],
    "billion_laughs.yaml": [
        "10:5: this value expands to more than 100,000 values through its aliases; "
        "a rules file may hold at most that many",
    ],
    "nesting.yaml": ["6:288: nested more than 50 levels deep"],
    "huge_number.yaml": ["6:15: an integer of 5001 digits is too long (at most 30)"],
    "missing_wordlist.yaml": [
        "4:12: lists.severe.include: word list file 'words/does-not-exist.txt' not found",
        "10:12: rules[1].when.words: unknown list 'mild'; lists defined: severe",
    ],
    "wrong_types.yaml": [
        "2:3: default.action: 'aprove' is not one of approve, reject, escalate",
        "5:29: rules[0].when.gte: expected a number, got 'high'",
        "7:5: rules[0].priority: expected an integer, got '5'",
        "8:5: rules[0].labels: expected a list, got 'abuse'",
        "11:5: rules[1].action: 'rejct' is not one of approve, reject, escalate",
        "13:12: rules[2].when.reply: expected true or false, got 'yes'",
        "14:5: rules[3]: expected a mapping, got 'just a string'",
    ],
    "between.yaml": [
        "5:29: rules[0].when.between: low 0.9 is greater than high 0.5; "
        "expected [low, high] with low <= high",
        "8:29: rules[1].when.between: expected [low, high], got 3 value(s)",
        "11:5: rules[2].when: score condition needs a comparison: one of gte, gt, lt, lte, between",
        "14:5: rules[3].when: scores lie in [0, 1]; gte: 90 can never be useful",
    ],
    "bad_template.yaml": [
        "3:3: default.message: unbalanced '{' at character 17 of 'nothing matched {'; "
        "write {{ or }} for a literal brace",
        "8:5: rules[0].message: unknown field {score.toxicity.__class__} in message; "
        "expected one of: score.NAME, matched, rule, length, links, domains, section, "
        "history.KIND or history.KIND_Nd, evidence.NAME, reports or reports.REASON",
        "12:5: rules[1].message: format '>1000' of field {score.spam} is not allowed; "
        "use e.g. '.2f', '.0%', '>5' (align, sign, width, precision, type d/f/e/%/s)",
    ],
    "missing_default.yaml": [
        "1:1: missing required key 'default' (the action when no rule matches)",
        "1:1: remove: only a file that extends another can remove rules",
        "3:5: rules[0]: rule 'toxic' does nothing; "
        "give it an action (approve, reject, escalate), labels or a priority",
        "5:5: rules[1]: missing required key 'id'",
        "9:31: tests[0].expect.rule: no rule has id 'nope'; write null to expect the default",
    ],
    "reasons.yaml": [
        "1:28: default.reason: only a rule that rejects or escalates can carry a reason code; "
        "this one has action 'approve'",
        "6:5: rules[0].reason: unknown reason code 'rude'; expected one of: abuse, hate, "
        "threat, spam, off-topic, personal-data, illegal, impersonation, other",
        "10:5: rules[1].reason: expected a string, got a list",
        "14:5: rules[2].reason: only a rule that rejects or escalates can carry a reason "
        "code; this one has action 'approve'",
        "18:5: rules[3].reason: only a rule that rejects or escalates can carry a reason "
        "code; this one has no action",
    ],
    "reports.yaml": [
        "4:12: rules[0].when.reports: expected a mapping, got 3",
        "7:22: rules[1].when.reports.reason: 'abuse' is not one of abusive, off_topic, spam, other",
        "10:12: rules[2].when.reports: reports needs a comparison: one of gte, gt, lt, lte, "
        "between",
        "13:30: unknown key 'reson' in rules[3].when.reports; "
        "expected one of: gte, gt, lt, lte, between, reason",
        "15:5: rules[3].message: unknown field {reports.abuse} in message; "
        "expected reports.REASON with REASON one of: total, abusive, off_topic, spam, other",
        "19:27: tests[0].reports.rude: 'rude' is not one of abusive, off_topic, spam, other",
        "19:36: tests[0].reports.spam: expected a number at least 0, got -1",
    ],
    "author_status.yaml": [
        f"4:12: rules[0].when.author_status: 'premod' {NOT_A_STATUS} or a list of them",
        f"7:12: rules[1].when.author_status: 'baned' {NOT_A_STATUS}",
        f"10:12: rules[2].when.author_status: the list is empty; give at least one of: {STATUSES}",
        f"13:12: rules[3].when.author_status: a mapping {NOT_A_STATUS} or a list of them",
        f"16:18: rules[4].when.not.author_status: True {NOT_A_STATUS} or a list of them",
    ],
    "not_a_mapping.yaml": [f"1:1: expected a mapping with keys: {TOP_KEYS}, got a list"],
    "empty.yaml": [f"1:1: the file is empty; expected a mapping with keys: {TOP_KEYS}"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_broken_files_report_every_problem_with_its_position(name):
    path = BAD / name
    with pytest.raises(RulesError) as info:
        load_rules(path, available_scores=SCORES)
    assert info.value.errors == [f"{path}:{line}" for line in EXPECTED_ERRORS[name]]
    assert str(info.value) == "\n".join(info.value.errors)


def test_a_python_tag_constructs_nothing(tmp_path):
    made = tmp_path / "made-by-yaml"
    text = f"default: {{action: approve}}\nx: !!python/object/apply:os.mkdir ['{made}']\n"
    with pytest.raises(RulesError) as info:
        load_rules_text(text)
    assert info.value.errors == [
        f"<string>:2:4: YAML tag '!!python/object/apply:os.mkdir' is not allowed: {ONLY_DATA}"
    ]
    assert not made.exists()


def test_anchors_aliases_and_merge_keys_are_plain_data():
    ruleset = load_rules_text(
        "default: {action: approve}\n"
        "rules:\n"
        "  - &toxic {id: toxic, when: {score: toxicity, gte: 0.9}, action: reject}\n"
        "  - <<: *toxic\n"
        "    id: toxic-reply\n"
        "    when: {all: [{reply: true}, {score: toxicity, gte: 0.5}]}\n"
    )
    assert [(r.id, r.spec.action) for r in ruleset.rules] == [
        ("toxic", Action.REJECT),
        ("toxic-reply", Action.REJECT),
    ]


def test_nesting_deeper_than_the_yaml_parser_goes_is_an_error_not_a_crash():
    deep = "{not: " * 3000 + "{reply: true}" + "}" * 3000
    with pytest.raises(RulesError) as info:
        load_rules_text(f"default: {{action: approve}}\nrules:\n  - {{id: d, when: {deep}}}\n")
    assert info.value.errors == ["<string>:1:1: invalid YAML: nested more than 50 levels deep"]


def test_a_character_yaml_refuses_is_reported_where_it_is():
    with pytest.raises(RulesError) as info:
        load_rules_text("default: {action: approve}\nrules: [\x07]\n")
    assert info.value.errors == [
        "<string>:2:9: invalid YAML: unacceptable character #x0007: "
        "special characters are not allowed"
    ]


def test_a_date_that_does_not_exist_is_named():
    with pytest.raises(RulesError) as info:
        load_rules_text("default: {action: approve}\ntests:\n  - {text: x, now: 2024-13-45}\n")
    assert info.value.errors == [
        "<string>:3:20: '2024-13-45' is not a date: month must be in 1..12; quote it if it is text"
    ]


def test_a_lone_surrogate_escape_is_named():
    with pytest.raises(RulesError) as info:
        load_rules_text('default: {action: approve, message: "half \\ud83d of a pair"}\n')
    assert info.value.errors == [
        "<string>:1:37: 'half \\ud83d of a pair' holds the lone surrogate '\\ud83d', half of a "
        "UTF-16 pair and not a character; write the character itself"
    ]


def test_unknown_scores_are_only_checked_when_the_active_scores_are_known():
    ruleset = load_rules(BAD / "unknown_score.yaml")
    assert ruleset.score_names == {"toxicty", "threat", "insult"}


def test_an_extends_cycle_is_an_error():
    with pytest.raises(RulesError) as info:
        load_rules(BAD / "cycle_a.yaml")
    assert info.value.errors == [
        f"{BAD / 'cycle_b.yaml'}:1:1: extends: 'cycle_a.yaml' makes a cycle: "
        "cycle_a.yaml -> cycle_b.yaml -> cycle_a.yaml",
        f"{BAD / 'cycle_a.yaml'}:1:1: extends: 'cycle_b.yaml' has errors (listed above)",
    ]


def test_errors_in_an_extended_file_come_first_with_their_own_file_name():
    with pytest.raises(RulesError) as info:
        load_rules(BAD / "extends_broken.yaml")
    errors = info.value.errors
    assert errors[0] == (
        f"{BAD / 'wrong_types.yaml'}:2:3: default.action: "
        "'aprove' is not one of approve, reject, escalate"
    )
    assert len(errors) == len(EXPECTED_ERRORS["wrong_types.yaml"]) + 1
    assert errors[-1] == (
        f"{BAD / 'extends_broken.yaml'}:1:1: extends: 'wrong_types.yaml' has errors (listed above)"
    )


def test_a_missing_file(tmp_path):
    with pytest.raises(RulesError) as info:
        load_rules(tmp_path / "nope.yaml")
    assert info.value.errors == [f"{tmp_path / 'nope.yaml'}: file not found"]


def test_load_rules_text_names_the_source_and_resolves_includes_from_base_dir():
    text = (GOOD / "base.yaml").read_text()
    ruleset = load_rules_text(text, source="site:base", base_dir=GOOD)
    assert ruleset.source == "site:base"
    assert ruleset.content == text
    assert ruleset.lists["insults"] == ("idiot", "moron", "dimwit")
    with pytest.raises(RulesError) as info:
        load_rules_text("default: {action: maybe}", source="inline")
    assert info.value.errors == [
        "inline:1:11: default.action: 'maybe' is not one of approve, reject, escalate"
    ]


def test_a_loaded_ruleset_exposes_rules_tests_and_references():
    ruleset = load_rules(GOOD / "base.yaml", available_scores=SCORES)
    assert isinstance(ruleset, RuleSet)
    assert [r.id for r in ruleset.rules] == ["toxic", "insults", "off-topic"]
    assert [(r.line, r.action, r.priority) for r in ruleset.rules] == [
        (6, Action.REJECT, 0),
        (10, Action.ESCALATE, 5),
        (15, Action.ESCALATE, 0),
    ]
    assert ruleset.score_names == {"toxicity", "relevance"}
    assert ruleset.history_queries == frozenset()
    assert len(ruleset.tests) == 1 and ruleset.tests[0].line == 19
    assert len(ruleset.version) == 64
    assert ruleset.version == load_rules(GOOD / "base.yaml").version


def test_extends_overrides_in_place_removes_and_appends():
    site = load_rules(GOOD / "site.yaml")
    base = site.extends
    assert base is not None and base.source == str(GOOD / "base.yaml")
    # "toxic" keeps its place with the site's threshold, "off-topic" is removed,
    # the new rule goes after the inherited ones.
    assert [r.id for r in site.rules] == ["toxic", "insults", "politics-links"]
    assert site.rule("toxic").spec.when.gte == 0.8
    assert site.rule("toxic").source == str(GOOD / "site.yaml")
    assert site.rule("insults").source == str(GOOD / "base.yaml")
    assert site.default.action is Action.ESCALATE
    # The site's list replaces the base's, also for the inherited rule that uses it.
    assert site.lists["insults"] == ("idiot", "clown")
    assert site.evaluate(make_ctx("you clown", scores={"toxicity": 0.1})).rule == "insults"
    assert site.evaluate(make_ctx("you moron", scores={"toxicity": 0.1})).rule is None
    assert len(site.tests) == 2  # a file's tests are its own


def test_remove_must_name_an_inherited_rule(tmp_path):
    (tmp_path / "base.yaml").write_text((GOOD / "base.yaml").read_text())
    (tmp_path / "words").mkdir()
    (tmp_path / "words" / "insults.txt").write_text("idiot\n")
    (tmp_path / "site.yaml").write_text("extends: base.yaml\nremove: [toxic, offtopic]\n")
    with pytest.raises(RulesError) as info:
        load_rules(tmp_path / "site.yaml")
    assert info.value.errors == [
        f"{tmp_path / 'site.yaml'}:2:17: remove[1]: 'offtopic' is not a rule of "
        f"{tmp_path / 'base.yaml'}; its rules are: toxic, insults, off-topic"
    ]


def _copy_good(tmp_path: Path) -> Path:
    for path in GOOD.rglob("*"):
        target = tmp_path / path.relative_to(GOOD)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return tmp_path


def test_version_changes_with_the_file_its_word_lists_and_the_file_it_extends(tmp_path):
    root = _copy_good(tmp_path)
    base_v, site_v = load_rules(root / "base.yaml").version, load_rules(root / "site.yaml").version
    assert base_v != site_v

    (root / "words" / "insults.txt").write_text("idiot\nmoron\ndimwit\nnitwit\n")
    base_v2, site_v2 = (
        load_rules(root / "base.yaml").version,
        load_rules(root / "site.yaml").version,
    )
    assert base_v2 != base_v
    assert site_v2 != site_v  # the site file did not change, the file it extends did

    (root / "site.yaml").write_text((root / "site.yaml").read_text() + "\n# a comment\n")
    assert load_rules(root / "site.yaml").version != site_v2


def test_the_default_rules_load_with_the_default_scorers():
    # The shipped offline model's labels (sexual_explicit is not in the rules), relevance, spam.
    labels = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
    ruleset = load_rules(DEFAULT_RULES, available_scores=[*labels, "sexual_explicit", *SCORES])
    assert ruleset.default.action is Action.APPROVE
    assert ruleset.score_names == {*labels, *SCORES}
    assert "kys" in ruleset.lists["severe-abuse"]


def test_files_lists_every_file_the_rules_were_built_from(tmp_path):
    assert load_rules(GOOD / "site.yaml").files == [
        GOOD / "site.yaml",
        GOOD / "base.yaml",
        GOOD / "words" / "insults.txt",
    ]
    assert load_rules(DEFAULT_RULES).files == [
        DEFAULT_RULES,
        DEFAULT_RULES.parent / "words" / "severe-abuse.txt",
    ]
    (tmp_path / "w.txt").write_text("idiot\n")
    text = "default: {action: approve}\nlists:\n  w: {include: w.txt}\nrules: []\n"
    assert load_rules_text(text, base_dir=tmp_path).files == [tmp_path / "w.txt"]
