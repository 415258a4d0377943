from __future__ import annotations

import pytest

from moderation.perspective.offsets import SourceText, Utf16Offsets, html_to_text, utf16_spans


def test_code_points_become_utf16_units_after_an_emoji():
    text = "😀 you idiot"
    # "idiot" is code points 6..11; the emoji before it is two UTF-16 units.
    assert utf16_spans(text, [(6, 11), (0, 1), (2, 5)]) == [(7, 12), (0, 2), (3, 6)]
    assert Utf16Offsets(text)(len(text)) == len(text.encode("utf-16-le")) // 2 == 12


def test_characters_of_the_basic_plane_count_one_unit():
    assert utf16_spans("é ü 中", [(4, 5)]) == [(4, 5)]


def test_html_reduces_to_the_text_a_reader_sees_with_its_source_offsets():
    source = "<p>Hello &amp; <b>you</b> idiot</p><script>x()</script>bye"
    text = html_to_text(source)
    assert text.text == "Hello & you idiot bye"
    assert text.source_span(0, 5) == (3, 8)  # Hello
    assert text.source_span(6, 7) == (9, 14)  # &amp; is one character of five
    assert text.source_span(12, 17) == (26, 31)  # idiot
    assert source[26:31] == "idiot"


def test_html_comments_and_breaking_tags_separate_words():
    assert html_to_text("one<br>two<!-- hidden -->three<div>four</div>").text == (
        "one two three four"
    )


def test_a_lone_angle_bracket_is_text():
    assert html_to_text("a < b & c").text == "a < b & c"


def test_plain_text_maps_to_itself_and_bad_spans_are_refused():
    text = SourceText.plain("abc")
    assert text.source_span(1, 3) == (1, 3)
    with pytest.raises(ValueError, match=r"span \[2, 5\) is not inside a text of 3"):
        text.source_span(2, 5)
