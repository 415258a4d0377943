"""What MiniLM reads of a comment: emoji in words, letters spaced out one by one joined.

all-MiniLM-L6-v2's vocabulary (BERT's, uncased) has no emoji: "I would love to 🔪 some
👳🏾" reached it as "i would love to [UNK] some [UNK]", so hate written with emoji was
invisible to the tuned layer and to relevance alike. Each emoji is given to the encoder as
its CLDR name ("kitchen knife", "person wearing turban medium-dark skin tone"), and
"y o u  i d i o t" as "you idiot".

``readable`` returns the new text and, for each of its characters, the offset of the
character of the original it came from, so that word pieces found in the readable text
(the evidence spans) point into the text the commenter wrote.
"""

from __future__ import annotations

import re

import emoji

_SPACED = re.compile(r"(?<!\w)\w(?: \w){2,}(?!\w)")
"""Three or more single letters or digits, one space apart ("y o u", "k i l l")."""


def _name(symbol: str) -> str:
    data = emoji.EMOJI_DATA.get(symbol)
    name = data["en"] if data else emoji.demojize(symbol)
    return name.strip(":").replace("_", " ")


def readable(text: str) -> tuple[str, list[int]]:
    """(readable text, original offset of each of its characters)."""
    found = emoji.emoji_list(text) if not text.isascii() else []
    if not found and not _SPACED.search(text):
        return text, list(range(len(text)))
    pieces: list[str] = []
    offsets: list[int] = []
    at = 0
    for match in found:
        start, end = match["match_start"], match["match_end"]
        _plain(text, at, start, pieces, offsets)
        name = f" {_name(match['emoji'])} "
        pieces.append(name)
        offsets += [start] * (len(name) - 1) + [end - 1]
        at = end
    _plain(text, at, len(text), pieces, offsets)
    return "".join(pieces), offsets


def _plain(text: str, start: int, end: int, pieces: list[str], offsets: list[int]) -> None:
    """``text[start:end]`` (no emoji in it) with its spaced-out letters joined."""
    at = start
    for match in _SPACED.finditer(text, start, end):
        pieces.append(text[at : match.start()])
        offsets += range(at, match.start())
        for index in range(match.start(), match.end()):
            if text[index] != " ":
                pieces.append(text[index])
                offsets.append(index)
        at = match.end()
    pieces.append(text[at:end])
    offsets += range(at, end)


def readable_text(text: str) -> str:
    return readable(text)[0]


def original_span(offsets: list[int], start: int, end: int) -> tuple[int, int]:
    """The original characters behind ``readable_text[start:end]`` (``end`` > ``start``)."""
    return offsets[start], offsets[end - 1] + 1
