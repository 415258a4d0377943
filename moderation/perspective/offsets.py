"""Where a span lies in the text the client sent.

Two steps: an ``HTML`` comment is reduced to its text (:func:`html_to_text`), keeping for every
character of the text the range of the source it came from; and Python's code-point offsets
become UTF-16 code units (:class:`Utf16Offsets`), which is how Perspective counts ``begin`` and
``end`` (JavaScript's string indices: an emoji outside the Basic Multilingual Plane is two).
``end`` is exclusive throughout.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

# Elements whose content is not text a reader sees.
_HIDDEN = re.compile(r"<(script|style|template|head)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_TAG = re.compile(
    r"</?([A-Za-z][A-Za-z0-9-]*)\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>|<![^>]*>|<\?[^>]*>"
)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?")
# Tags that separate words: a reader sees a break where they stand.
_BREAKING = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table tbody td tfoot th thead tr ul".split()
)


@dataclass(frozen=True)
class SourceText:
    """A text and, per character, the source range ``[starts[i], ends[i])`` it came from."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @classmethod
    def plain(cls, text: str) -> SourceText:
        return cls(text, tuple(range(len(text))), tuple(range(1, len(text) + 1)))

    def source_span(self, begin: int, end: int) -> tuple[int, int]:
        """The source range of the text's characters ``[begin, end)`` (non-empty)."""
        if not 0 <= begin < end <= len(self.text):
            raise ValueError(f"span [{begin}, {end}) is not inside a text of {len(self.text)}")
        return self.starts[begin], self.ends[end - 1]


def html_to_text(source: str) -> SourceText:
    """The text a reader sees in ``source``: tags, comments and scripts removed, entities
    decoded, a space where a block-level tag or ``<br>`` separated words."""
    hidden = [(m.start(), m.end()) for m in _HIDDEN.finditer(source)]
    hidden += [(m.start(), m.end()) for m in _COMMENT.finditer(source)]
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(source)
    hidden.sort()
    h = 0
    while i < n:
        while h < len(hidden) and hidden[h][1] <= i:
            h += 1
        if h < len(hidden) and hidden[h][0] <= i < hidden[h][1]:
            _space(out, starts, ends, i)
            i = hidden[h][1]
            continue
        ch = source[i]
        if ch == "<":
            tag = _TAG.match(source, i)
            if tag is not None:
                name = (tag.group(1) or "").lower()
                if name in _BREAKING:
                    _space(out, starts, ends, i)
                i = tag.end()
                continue
        elif ch == "&":
            entity = _ENTITY.match(source, i)
            if entity is not None:
                decoded = html.unescape(entity.group(0))
                if decoded != entity.group(0):
                    for c in decoded:
                        out.append(c)
                        starts.append(i)
                        ends.append(entity.end())
                    i = entity.end()
                    continue
        out.append(ch)
        starts.append(i)
        ends.append(i + 1)
        i += 1
    # Trim the spaces the tags left at either end (the offsets stay those of the source).
    text = "".join(out)
    left = len(text) - len(text.lstrip())
    right = len(text.rstrip())
    return SourceText(text[left:right], tuple(starts[left:right]), tuple(ends[left:right]))


def _space(out: list[str], starts: list[int], ends: list[int], at: int) -> None:
    if out and not out[-1].isspace():
        out.append(" ")
        starts.append(at)
        ends.append(at)


class Utf16Offsets:
    """Code-point offsets of one text to UTF-16 code-unit offsets."""

    def __init__(self, text: str) -> None:
        # units[i]: UTF-16 code units before code point i (len(text) + 1 entries).
        self.units: tuple[int, ...] = (0, *accumulate(2 if ord(c) > 0xFFFF else 1 for c in text))

    def __call__(self, index: int) -> int:
        return self.units[index]

    def span(self, begin: int, end: int) -> tuple[int, int]:
        return self.units[begin], self.units[end]


def utf16_length(text: str) -> int:
    return Utf16Offsets(text).units[-1]


def utf16_spans(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each code-point span of ``text`` as a UTF-16 span."""
    offsets = Utf16Offsets(text)
    return [offsets.span(begin, end) for begin, end in spans]
