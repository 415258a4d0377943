"""What MiniLM reads of a comment (``moderation.scoring._readable``): exact texts, and
offsets that point back into what the commenter wrote."""

from __future__ import annotations

import pytest

from moderation.scoring._readable import original_span, readable


@pytest.mark.parametrize(
    ("text", "seen"),
    [
        ("plain words, left alone", "plain words, left alone"),
        ("🔪 some 👳🏾", " kitchen knife  some  person wearing turban medium-dark skin tone "),
        ("I ❤️ you", "I  red heart  you"),
        ("y o u  i d i o t", "you  idiot"),
        ("k i l l them all", "kill them all"),
        ("a b and c", "a b and c"),  # two single letters are not spelled-out words
        ("go 🐀 back, r a t s", "go  rat  back, rats"),
    ],
)  # fmt: skip
def test_emoji_become_their_names_and_spaced_letters_are_joined(text, seen):
    readable_text, offsets = readable(text)
    assert readable_text == seen
    assert len(offsets) == len(readable_text)
    assert offsets == sorted(offsets) and all(0 <= o < len(text) for o in offsets)


def test_spans_found_in_the_readable_text_point_at_the_original():
    text = "go 🔪 them, y o u"
    seen, offsets = readable(text)
    start = seen.index("kitchen knife")
    a, b = original_span(offsets, start, start + len("kitchen knife"))
    assert text[a:b] == "🔪"
    start = seen.index("you")
    a, b = original_span(offsets, start, start + 3)
    assert text[a:b] == "y o u"


def test_the_encoder_reads_emoji_as_words():
    from moderation.scoring._embedding import Embedder

    embedder = Embedder()
    knife, blank = embedder.encode(["I would love to 🔪 them", "I would love to  them"])
    named = embedder.encode(["I would love to kitchen knife them"])[0]
    assert float(knife @ named) > 0.99 > float(knife @ blank)
