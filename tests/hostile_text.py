"""Hostile text for property tests: every Unicode code point (lone surrogates included),
invisible and right-to-left characters, emoji sequences, combining marks, look-alike
letters, and the fixed extremes no random draw reaches (100,000 characters, nothing).

``hostile_text()`` is a hypothesis strategy; ``EXTREMES`` are named fixed texts to
parametrize over. Texts with lone surrogates cannot be sent as UTF-8: through the API
they are written as JSON ``\\ud800`` escapes (``json_escaped``).
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u034f"
RIGHT_TO_LEFT = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
LONE_SURROGATES = "\ud800\udbff\udc00\udfff"
COMBINING = "\u0301\u0308\u0336\u0489\u20dd\u0e49"
LOOKALIKES = "аеорсхіοαΑЅ"
EMOJI = (
    "😀",
    "👍🏽",
    "👨\u200d👩\u200d👧\u200d👦",  # a family: four emoji joined by zero-width joiners
    "🇺🇦",
    "🏳\ufe0f\u200d🌈",
    "❤\ufe0f",
    "1\ufe0f\u20e3",
    "🤬",
    "𝕴𝖉𝖎𝖔𝖙",  # mathematical letters NFKC folds to "Idiot"
)
AWKWARD = "\x00\x1b\x7f\r\n\t\u2028\u2029\u0085 \u3000\uffff\U0010ffff"
WORDS = ("idiot", "free", "http://x.example.biz/a", "a@b.co", "+44 20 7946 0958", "www.", "@")


def hostile_text(*, max_size: int = 200, surrogates: bool = True) -> st.SearchStrategy[str]:
    """Any text, weighted towards the characters that break text handling."""
    special = ZERO_WIDTH + RIGHT_TO_LEFT + COMBINING + LOOKALIKES + AWKWARD
    if surrogates:
        special += LONE_SURROGATES
    any_char = st.characters(exclude_categories=() if surrogates else ("Cs",))
    pieces = st.one_of(
        any_char,
        st.sampled_from(special),
        st.sampled_from(EMOJI),
        st.sampled_from(WORDS),
        st.just(" "),
    )
    return st.lists(pieces, max_size=max_size).map("".join)


EXTREMES = {
    "empty": "",
    "spaces": "   \t\n ",
    "zero-width only": ZERO_WIDTH * 20,
    "right-to-left override": "\u202eelpoep suoludirc\u202c idiot \u200fעברית\u200f",
    "emoji only": "".join(EMOJI) * 5,
    "zalgo": "i\u0336\u0301d\u0489\u20ddi\u0308o\u0336t" * 50,
    "look-alikes": "іdіоt frее mоnеy аt ехаmрlе.соm",
    "lone surrogates": "half \ud83d of an emoji \udfff",
    "100,000 letters": "a" * 100_000,
    "100,000 emoji": "🤬" * 100_000,
    "100,000 zero-width": "\u200b" * 100_000,
    "100,000 mixed": ("idiot http://spam.example.biz/x " + "\u200d🏳\ufe0f\u200d🌈 ") * 2_500,
    "one long word": "x" * 99_990 + ".com/" + "y" * 5,
}
"""Fixed texts each property test also runs on, by name."""

TEXTS_WITHOUT_SURROGATES = {
    name: text for name, text in EXTREMES.items() if name != "lone surrogates"
}


def has_lone_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def as_received(text: str) -> str:
    """``text`` as a JSON parser reads it back from ``json_escaped``: a high surrogate escape
    followed by a low one is one character (``"\\ud800\\udc00"`` is U+10000), only the
    others stay lone. Two lone surrogates drawn side by side make such a pair."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def json_escaped(value: object) -> bytes:
    """``value`` as JSON in ASCII, every non-ASCII character (and each lone surrogate) as a
    ``\\uXXXX`` escape: the only way a lone surrogate can travel in a JSON body."""
    return json.dumps(value, ensure_ascii=True).encode("ascii")
