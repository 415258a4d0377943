"""The benchmark's comments: real ones when the development data is there, otherwise a
synthetic stand-in with the same length distribution."""

from __future__ import annotations

from benchmarks.corpus import (
    LENGTH_QUANTILES,
    LONG_CHARS,
    length_quantiles,
    load_corpus,
    mix,
    real_texts,
    synthetic_corpus,
)
from tests.conftest import shared_data


def test_recorded_quantiles_are_those_of_the_real_mix():
    data = shared_data()
    assert length_quantiles(mix(real_texts(data))) == LENGTH_QUANTILES


def test_real_corpus_mixes_news_comments_and_some_spam_under_real_articles():
    corpus = load_corpus(shared_data(), articles=5)
    assert corpus.source == "shared-data"
    head = [t.source for t in corpus.texts[:1000]]
    assert 500 < head.count("civil_comments") < 700
    assert 200 < head.count("globe_and_mail") < 400
    assert 50 < head.count("youtube_spam") < 150
    ids = {a.id for a in corpus.articles}
    assert {t.article_id for t in corpus.texts if t.article_id} <= ids
    assert len({t.text for t in corpus.texts}) == len(corpus.texts)


def test_synthetic_corpus_follows_the_recorded_lengths(tmp_path):
    corpus = load_corpus(tmp_path)  # no data there
    assert corpus.source == "synthetic"
    got = dict(length_quantiles(corpus.texts))
    for p, want in LENGTH_QUANTILES:
        if 0.05 <= p <= 0.95:
            assert abs(got[p] - want) <= max(8, 0.1 * want), (p, got[p], want)
    assert all(len(t.text) >= LONG_CHARS for t in corpus.long)


def test_streams_repeat_the_same_texts_with_their_own_ids():
    corpus = synthetic_corpus(articles=2, count=300)
    a = corpus.stream("w1").take("batch", 50)
    b = corpus.stream("w2").take("batch", 50)
    assert [c.text for c in a] == [c.text for c in b]
    assert [c.author_id for c in a] == [c.author_id for c in b]
    assert {c.id for c in a}.isdisjoint(c.id for c in b)
    assert len({c.text for c in a}) == 50
    s = corpus.stream("w1")
    per_article = s.one_per_article("warm")
    assert sorted(c.article_id for c in per_article) == sorted(x.id for x in corpus.articles)
    assert {c.text for c in per_article}.isdisjoint(c.text for c in s.take("batch", 50))
