from __future__ import annotations

import pytest

from moderation.policy.normaliser import (
    PhraseMatcher,
    TermMatcher,
    canonicalise,
    compile_re2,
    find_urls,
    normalise_text,
    url_domains,
)


def test_normalise_text_folds_width_case_accents_and_invisible_characters():
    assert normalise_text("ＩＤＩＯＴ") == "idiot"
    assert normalise_text("Straße") == "strasse"
    assert normalise_text("Café  déjà\n vu") == "cafe deja vu"
    assert normalise_text("id\u200biot\u00ad\u2060s") == "idiots"
    assert normalise_text("іdіot") == "idiot"  # Cyrillic і


def test_canonicalise_undoes_leet_inside_words_only():
    assert canonicalise("You 1d10t!") == "you idiot!"
    assert canonicalise("sh!t and @ss") == "shit and ass"
    assert canonicalise("in 2024, 50% of 1000") == "in 2024, 50% of 1000"
    assert canonicalise("wow!") == "wow!"


@pytest.mark.parametrize(
    "text",
    [
        "idiot",
        "You IDIOT.",
        "1d10t",
        "i.d.i.o.t",
        "i d i o t",
        "i-d-i-o-t",
        "iiiidiot",
        "idiooooot!!",
        "id\u200biot",
        "ｉｄｉｏｔ",
        "іdiot",
        "ídíót",
    ],
)
def test_term_matcher_sees_through_obfuscation(text):
    assert TermMatcher(["idiot"]).find_in(text) == ["idiot"]


@pytest.mark.parametrize("text", ["idiots", "idiotic", "an idio t", "radio", "i do it"])
def test_term_matcher_matches_whole_words_only(text):
    assert TermMatcher(["idiot"]).find_in(text) == []


def test_repeated_letters_never_shorten_an_entry():
    matcher = TermMatcher(["ass"])
    assert matcher.find_in("asss") == ["ass"]
    assert matcher.find_in("a s s") == ["ass"]
    for harmless in ["as", "class", "assess", "as sassy", "pass"]:
        assert matcher.find_in(harmless) == [], harmless


def test_phrase_entries_match_across_whitespace_and_obfuscation():
    matcher = TermMatcher(["go kill yourself", "kys"])
    assert matcher.find_in("just GO  kiiill\nyourself") == ["go kill yourself"]
    assert matcher.find_in("K.Y.S.") == ["kys"]
    assert matcher.find_in("go kill yourselves") == []


def test_term_matcher_reports_entries_as_written_once_each():
    matcher = TermMatcher(["Moron", "idiot", "idiot", "", "  "])
    assert matcher.entries == ("Moron", "idiot")
    assert matcher.find_in("moron, m0r0n and idiot") == ["Moron", "idiot"]


def test_phrase_matcher_keeps_digits_and_symbols():
    matcher = PhraseMatcher(["win $1000", "buy now", "100% free"])
    assert matcher.find_in("WIN $1000 — Buy   Now! It's 100% FREE") == [
        "win $1000",
        "buy now",
        "100% free",
    ]
    assert matcher.find_in("buy nowhere") == []
    assert matcher.find_in("win $10000") == []


def test_find_urls_counts_schemes_www_and_bare_domains():
    text = (
        "See http://x.com/a, www.Spam.biz and cheap-pills.shop/buy. e.g. file.txt, https://x.com/b"
    )
    urls = find_urls(text)
    assert urls == ["http://x.com/a", "www.spam.biz", "cheap-pills.shop/buy", "https://x.com/b"]
    assert url_domains(urls) == ["x.com", "spam.biz", "cheap-pills.shop"]
    assert find_urls("No links here. Mr.Smith said so, e.g. at 3.30pm.") == []


def test_compile_re2_uses_re2_and_reports_what_it_cannot_compile():
    assert type(compile_re2("a+")).__module__.startswith("re2")
    with pytest.raises(ValueError, match=r"invalid perl operator: \(\?<="):
        compile_re2("(?<=a)b")
