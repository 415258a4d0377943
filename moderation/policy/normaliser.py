"""Text normalisation for word lists, phrases and link counts.

Two strengths of normalisation:

``normalise_text``
    NFKC, case folding, accents and invisible characters (zero-width spaces, joiners, soft
    hyphens: Unicode category ``Cf``) removed, common look-alike letters (Cyrillic and Greek
    ``а е о р с х і``...) mapped to Latin, runs of whitespace collapsed. Phrases match here.

``canonicalise``
    ``normalise_text`` and then l33t spelling undone inside words that contain a letter
    (``1d10t`` -> ``idiot``, ``sh!t`` -> ``shit``, ``@ss`` -> ``ass``). Word lists match here.

``TermMatcher`` matches word-list entries on word boundaries, allowing any letter to be
repeated (``iiiidiot``) and, for single-word entries, a separator between every letter
(``i.d.i.o.t``, ``k y s``). Everything runs on RE2, so matching is linear in the text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

import re2

from moderation.textfeatures import (
    CONFUSABLES,
    find_contacts,
    link_domains,
    whole_characters,
)

__all__ = [
    "TermMatcher",
    "PhraseMatcher",
    "canonicalise",
    "compile_re2",
    "find_urls",
    "normalise_text",
    "re2_limitation",
    "url_domains",
]

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
     "@": "a", "$": "s", "!": "i", "|": "i", "€": "e"}
)  # fmt: skip


def compile_re2(pattern: str) -> re2._Regexp:
    """Compile with RE2, raising ``ValueError`` with RE2's message when it cannot."""
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise ValueError(str(detail)) from exc


_RE2_LACKS = tuple(
    # RE2's message for a feature it lacks by design, and the feature in words.
    (compile_re2(detail), lacks)
    for detail, lacks in (
        (
            r"^invalid perl operator: \(\?<?[=!]",
            "look-ahead or look-behind: (?=...), (?!...), (?<=...), (?<!...)",
        ),
        (
            r"^invalid escape sequence: \\[1-9k]|^invalid perl operator: \(\?P$",
            "backreferences such as \\1 or (?P=name)",
        ),
        (r"^invalid perl operator: \(\?>", "atomic groups: (?>...)"),
        (r"^bad repetition operator: .*\+$", "possessive repeats such as a++ or a*+"),
    )
)


def re2_limitation(detail: str) -> str | None:
    """What RE2 deliberately lacks, in words for an error message, when ``detail`` (RE2's
    message for a pattern it refused) is about one of those; None for other mistakes."""
    for shows, lacks in _RE2_LACKS:
        if shows.search(detail):
            return f"RE2 has no {lacks}; it runs every pattern in time linear in the text"
    if detail.startswith("invalid repetition size:"):
        return "RE2 repeats a piece at most 1000 times: {n}, {n,} and {n,m} take n, m <= 1000"
    if detail == "invalid escape sequence: \\Z":
        return "RE2 writes the end of the text as \\z"
    return None


_WHITESPACE = compile_re2(r"\s+")
# A chunk of non-space characters, split into leading punctuation, body, trailing punctuation.
_CHUNK = compile_re2(r"\S+")


def normalise_text(text: str) -> str:
    """NFKC, case-fold, strip accents and invisible characters, collapse whitespace (and
    lone surrogates made U+FFFD, which RE2 can read)."""
    text = unicodedata.normalize("NFKC", whole_characters(text)).casefold()
    text = unicodedata.normalize("NFD", text)
    text = "".join(
        ch for ch in text if unicodedata.category(ch) not in ("Mn", "Cf") and ch != "\u00ad"
    )
    text = unicodedata.normalize("NFC", text).translate(CONFUSABLES)
    return str(_WHITESPACE.sub(" ", text)).strip()


def _unleet_chunk(chunk: str) -> str:
    # Leave numbers ("2024") and punctuation around words ("idiot!") as they are.
    start, end = 0, len(chunk)
    while start < end and not chunk[start].isalnum() and chunk[start] not in "@$":
        start += 1
    while end > start and not chunk[end - 1].isalnum():
        end -= 1
    core = chunk[start:end]
    if not any(ch.isalpha() for ch in core):
        return chunk
    return chunk[:start] + core.translate(_LEET) + chunk[end:]


def canonicalise(text: str) -> str:
    """``normalise_text`` plus l33t spelling undone inside words (what word lists match)."""
    text = normalise_text(text)
    return str(_CHUNK.sub(lambda m: _unleet_chunk(m.group(0)), text))


def _letters_pattern(word: str) -> str:
    # Each run of one letter becomes "at least that many": "ass" -> a+s{2,}, so "as" is no match.
    parts = []
    for char, run in groupby(word):
        n = len(list(run))
        escaped = re2.escape(char)
        parts.append(f"{escaped}+" if n == 1 else f"{escaped}{{{n},}}")
    return "".join(parts)


_BOUNDARY_BEFORE = r"(?:^|[^\pL\pN])"
_BOUNDARY_AFTER = r"(?:$|[^\pL\pN])"
_SEPARATOR = r"[^\pL\pN]+"
_LETTER_SEPARATOR = r"[\s._*,~+/\\-]+"


@dataclass(frozen=True)
class _Term:
    entry: str
    regex: re2._Regexp


class TermMatcher:
    """Finds which entries of a word list occur in a text (see the module docstring)."""

    def __init__(self, entries: Iterable[str]):
        self.entries: tuple[str, ...] = tuple(dict.fromkeys(e for e in entries if e.strip()))
        terms = []
        for entry in self.entries:
            words = [w for w in re2.split(_SEPARATOR, canonicalise(entry)) if w]
            if not words:
                continue
            contiguous = _SEPARATOR.join(_letters_pattern(w) for w in words)
            alternatives = [contiguous]
            if len(words) == 1 and len(words[0]) >= 3:
                spaced = _LETTER_SEPARATOR.join(f"{re2.escape(ch)}+" for ch in words[0])
                alternatives.append(spaced)
            pattern = f"{_BOUNDARY_BEFORE}(?:{'|'.join(alternatives)}){_BOUNDARY_AFTER}"
            terms.append(_Term(entry, compile_re2(pattern)))
        self._terms = tuple(terms)

    def find(self, canonical_text: str) -> list[str]:
        """Entries (as written in the list) found in text already passed through canonicalise."""
        return [t.entry for t in self._terms if t.regex.search(canonical_text)]

    def find_in(self, text: str) -> list[str]:
        return self.find(canonicalise(text))


class PhraseMatcher:
    """Finds phrases in ``normalise_text`` form, on word boundaries, without l33t folding
    (so ``"100% free"`` or ``"win $1000"`` stay what they say)."""

    def __init__(self, phrases: Sequence[str]):
        self.entries: tuple[str, ...] = tuple(dict.fromkeys(p for p in phrases if p.strip()))
        compiled = []
        for phrase in self.entries:
            norm = normalise_text(phrase)
            body = r"\s+".join(re2.escape(part) for part in norm.split(" "))
            before = _BOUNDARY_BEFORE if norm[:1].isalnum() else ""
            after = _BOUNDARY_AFTER if norm[-1:].isalnum() else ""
            compiled.append((phrase, compile_re2(f"{before}{body}{after}")))
        self._phrases = tuple(compiled)

    def find(self, normalised_text: str) -> list[str]:
        return [p for p, regex in self._phrases if regex.search(normalised_text)]

    def find_in(self, text: str) -> list[str]:
        return self.find(normalise_text(text))


def find_urls(text: str) -> list[str]:
    """URLs and bare domains (``example.com/x``) in the text, in order, normalised: what
    ``count: links`` counts (``moderation.textfeatures`` finds them, for the spam scorer too)."""
    return [normalise_text(link) for link in find_contacts(text).links]


def url_domains(urls: Iterable[str]) -> list[str]:
    """Distinct host names of the URLs (``www.`` dropped), in order of first appearance."""
    return link_domains(urls)
