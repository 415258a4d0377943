"""Where a comment points its readers: links, e-mail addresses and phone numbers.

One detector for the rules (``count: links``, ``count: domains``, ``{links}``) and the
spam scorer, so the two cannot disagree about what a link is. It is pure (no I/O) and
imports nothing from the package, so ``policy`` and ``scoring`` both stand on it without
knowing each other.

Matching runs on a folded copy of the text (NFKC, case folded, accents and invisible
characters dropped, look-alike Cyrillic and Greek letters mapped to Latin), so
``ｅｘａｍｐｌｅ.com`` and ``exam<zero-width space>ple.com`` are links too; every match is
returned as written in the original text. Links and e-mail addresses are found by RE2,
in time linear in the text; an e-mail address is not also a link.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import re2

__all__ = [
    "CONFUSABLES",
    "TLDS",
    "Contacts",
    "find_contacts",
    "link_domain",
    "link_domains",
    "whole_characters",
]

CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d",
        "ɡ": "g", "ո": "n", "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v",
        "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    }
)  # fmt: skip
"""Letters from other scripts that render like Latin ones (a small, common subset of
Unicode's confusables.txt; NFKC leaves these alone)."""

TLDS = (
    "com net org info biz io co uk de fr ru cn xyz top online site shop store club me tv us "
    "ca au in nl eu app dev ly gl gg to ws cc link click live pro win bid loan vip"
).split()
"""Top-level domains that make a bare ``name.tld`` a link (with a scheme or ``www.``,
any domain is)."""


_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT_CHARACTER = "\ufffd"


def whole_characters(text: str) -> str:
    """``text`` with each lone surrogate (half of a UTF-16 pair, which a JSON ``\\ud800``
    escape can produce) replaced by U+FFFD, one for one, so offsets stay the same. RE2 and
    UTF-8 encoders refuse lone surrogates; a real character is never one."""
    if text.isascii():
        return text
    return _SURROGATE.sub(REPLACEMENT_CHARACTER, text)


def _compile(pattern: str) -> re2._Regexp:
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


_NOT_URL = r"[^\s<>\"']"
_LINK = _compile(
    rf"\bhttps?://{_NOT_URL}+|\bwww\.{_NOT_URL}+"
    rf"|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:{'|'.join(TLDS)})\b(?:/{_NOT_URL}*)?"
)
_WORD = r"[\pL\pN_]"
_EMAIL = _compile(rf"{_WORD}[\pL\pN_.+-]*@[\pL\pN_-]+(?:\.[\pL\pN_-]+)+")
# Bounded repetition keeps Python's re linear here; RE2 has no look-around.
_PHONE = re.compile(r"(?<![\w.])\+?\d(?:[\s().-]?\d){8,14}(?![\w.])")
_HOST = _compile(r"^(?:https?://)?(?:www\.)?([^/:?#\s]+)")
_TRAILING_PUNCT = ".,;:!?)]}'\""


@dataclass(frozen=True)
class Contacts:
    """What ``find_contacts`` found, each as written in the text, in order."""

    links: list[str]
    """URLs (``https://...``, ``www...``) and bare domains with a known TLD (``a.shop/x``)."""
    emails: list[str]
    phones: list[str]
    """Nine to fifteen digits, optionally with ``+``, spaces, dots, dashes, brackets."""

    @property
    def domains(self) -> list[str]:
        """Distinct host names of the links, lower case, ``www.`` dropped."""
        return link_domains(self.links)


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if unicodedata.category(ch) == "Cs":
        return REPLACEMENT_CHARACTER
    text = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", ch).casefold())
    text = "".join(c for c in text if unicodedata.category(c) not in ("Mn", "Cf") and c != "\xad")
    return unicodedata.normalize("NFC", text).translate(CONFUSABLES)


def _fold(text: str) -> tuple[str, list[int] | None]:
    """The folded text and, unless it maps one to one, each folded character's index in
    ``text``."""
    if text.isascii():
        return text.lower(), None
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        folded = _fold_char(ch)
        out.append(folded)
        where.extend([i] * len(folded))
    return "".join(out), where


def find_contacts(text: str) -> Contacts:
    """Links, e-mail addresses and phone numbers in ``text``."""
    folded, where = _fold(text)

    def original(start: int, end: int) -> str:
        if where is None:
            return text[start:end]
        return text[where[start] : where[end - 1] + 1]

    emails, pieces, pos = [], [], 0
    for m in _EMAIL.finditer(folded):
        end = m.start() + len(m.group(0).rstrip("-"))
        emails.append(original(m.start(), end))
        # Blank the address out (keeping offsets): its domain is not also a link.
        pieces += [folded[pos : m.start()], " " * (m.end() - m.start())]
        pos = m.end()
    rest = "".join(pieces) + folded[pos:]
    links = []
    for m in _LINK.finditer(rest):
        end = m.start() + len(m.group(0).rstrip(_TRAILING_PUNCT))
        links.append(original(m.start(), end))
    phones = [original(m.start(), m.end()) for m in _PHONE.finditer(rest)]
    return Contacts(links=links, emails=emails, phones=phones)


def link_domain(link: str) -> str:
    """The host name of a link, lower case, ``www.`` dropped ('' when there is none)."""
    m = _HOST.search(_fold(link)[0])
    return m.group(1).rstrip(".") if m else ""


def link_domains(links: Iterable[str]) -> list[str]:
    """Distinct host names of the links, in order of first appearance."""
    hosts: dict[str, None] = {}
    for link in links:
        host = link_domain(link)
        if host:
            hosts.setdefault(host, None)
    return list(hosts)
