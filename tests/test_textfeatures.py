"""The one detector of links, e-mail addresses and phone numbers."""

from __future__ import annotations

import time

import pytest

from moderation.policy.normaliser import find_urls
from moderation.scoring.spam import signals
from moderation.textfeatures import find_contacts, link_domain, link_domains


def test_links_schemes_www_and_bare_domains_as_written():
    found = find_contacts("Read http://www.Example.com/a?b=1, evil.XYZ/win or www.foo.org.")
    assert found.links == ["http://www.Example.com/a?b=1", "evil.XYZ/win", "www.foo.org"]
    assert found.domains == ["example.com", "evil.xyz", "foo.org"]
    assert find_contacts("No links here. Mr.Smith said so, e.g. at 3.30pm in file.txt").links == []


def test_emails_and_phones():
    found = find_contacts("mail jo.x+1@spam.biz or jö@bücher.de, call +44 20 7946 0958 now")
    assert found.emails == ["jo.x+1@spam.biz", "jö@bücher.de"]
    assert found.phones == ["+44 20 7946 0958"]
    assert found.links == []  # an e-mail address is not also a link
    assert find_contacts("in 2024 there were 1,234 of them").phones == []


@pytest.mark.parametrize(
    ("text", "links", "domains"),
    [
        # The rules counted the domain of an address as a link; the spam scorer did not.
        ("pay me at jo@spam.biz", [], []),
        # Top-level domains only one of the two old patterns knew.
        ("join us on gaming.gg", ["gaming.gg"], ["gaming.gg"]),
        ("prizes at win.click and free.vip", ["win.click", "free.vip"], ["win.click", "free.vip"]),
        # Disguises the rules saw through (they matched normalised text) and spam did not.
        ("Visit ｅｘａｍｐｌｅ.com now", ["ｅｘａｍｐｌｅ.com"], ["example.com"]),
        ("see exam\u200bple.com", ["exam\u200bple.com"], ["example.com"]),
        ("fr\u0435\u0435-money.com", ["fr\u0435\u0435-money.com"], ["free-money.com"]),
        # The spam scorer raised ValueError (urlsplit: "Invalid IPv6 URL") here.
        ("see http://[oops", ["http://[oops"], ["[oops"]),
    ],
)
def test_cases_where_the_rules_and_the_spam_scorer_used_to_disagree(text, links, domains):
    found = find_contacts(text)
    assert (found.links, found.domains) == (links, domains)
    assert len(find_urls(text)) == len(signals(text)["links"]) == len(links)
    assert sorted(domains) == signals(text)["domains"]


def test_domains_are_distinct_lower_case_and_without_www():
    assert link_domain("HTTPS://WWW.Example.COM./x") == "example.com"
    assert link_domains(["a.com/1", "www.a.com", "http://A.com", "b.net"]) == ["a.com", "b.net"]


def test_detection_is_linear_in_the_text():
    started = time.monotonic()
    for text in ("a." * 50_000, "a@" * 50_000, "a.b@" * 25_000, "1 " * 50_000):
        find_contacts(text)
    assert time.monotonic() - started < 5
