"""Realistic comments and the articles they go under.

Real texts come from ``../shared/data/`` when it is there (it lives beside the project, not
in it): news-site comments from Civil Comments (the toxic-spans subset) and The Globe and
Mail (under their own articles), and some YouTube spam, mixed as ``MIX`` says. Civil Comments
and YouTube comments go under Globe and Mail articles picked at random.

Without the data, a synthetic corpus stands in: comments whose lengths are drawn from
``LENGTH_QUANTILES`` (the lengths of the real mix, recorded once) and whose words come from
a small news vocabulary, some with insults and some with spam links. The quantiles were
generated with ``python -m benchmarks --print-length-quantiles`` on the data above
(``MIX``, ``SEED``); run it again if the mix changes.
"""

from __future__ import annotations

import bisect
import csv
import html
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

CIVIL = "toxicity/civil_comments_toxic_spans/comments.csv"
GLOBE_COMMENTS = "context/globe_comments_dev.csv"
GLOBE_ARTICLES = "context/globe_articles.csv"
YOUTUBE = "spam/youtube"

MIX = {"civil_comments": 0.6, "globe_and_mail": 0.3, "youtube_spam": 0.1}
"""Share of each source among the drawn comments (news-site comments, some spam)."""

SEED = 20240611

LONG_CHARS = 600
"""A "long" comment (the bulk import's) has at least this many characters (about the real
mix's 92nd percentile)."""

LENGTH_QUANTILES: tuple[tuple[float, int], ...] = (
    (0.0, 3), (0.01, 13), (0.05, 25), (0.1, 39), (0.2, 61), (0.3, 85), (0.4, 114),
    (0.5, 149), (0.6, 195), (0.7, 263), (0.8, 355), (0.9, 554), (0.95, 765), (0.99, 1192),
    (1.0, 2932),
)  # fmt: skip
"""Characters per comment of the real mix: (probability, length), from
``python -m benchmarks --print-length-quantiles``."""

QUANTILE_POINTS = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    body: str
    url: str | None = None

    def put_body(self) -> dict[str, object]:
        body: dict[str, object] = {"title": self.title, "body": self.body}
        if self.url:
            body["url"] = self.url
        return body


@dataclass(frozen=True)
class Text:
    """A comment's text, where it comes from, and the article it belongs under (if any)."""

    text: str
    source: str
    article_id: str | None = None


@dataclass(frozen=True)
class Comment:
    """One comment as the benchmark sends it."""

    id: str
    article_id: str
    text: str
    author_id: str
    source: str

    def body(self) -> dict[str, object]:
        return {
            "id": self.id,
            "article_id": self.article_id,
            "text": self.text,
            "author": {"id": self.author_id},
        }


class Corpus:
    """Articles and two pools of texts (all, and long ones), in a fixed shuffled order.

    ``stream(prefix)`` hands out comments in the same order every time it is called, so the
    1-worker and 2-worker runs see exactly the same texts, phase by phase, and no text
    repeats within one stream (the spam scorer counts repeated texts as a campaign).
    """

    def __init__(self, source: str, articles: list[Article], texts: list[Text], long: list[Text]):
        if not articles or not texts or not long:
            raise ValueError("a corpus needs articles, texts and long texts")
        self.source = source
        self.articles = articles
        self.texts = texts
        self.long = long

    def stream(self, prefix: str, *, authors: int = 300) -> CommentStream:
        return CommentStream(self, prefix, authors)

    def describe(self) -> dict[str, object]:
        return {
            "source": self.source,
            "articles": len(self.articles),
            "texts": len(self.texts),
            "long_texts": len(self.long),
            "long_chars": LONG_CHARS,
            "mix": MIX if self.source == "shared-data" else "synthetic (LENGTH_QUANTILES)",
        }


class CommentStream:
    """Distinct comments for one stack, with ids ``<prefix>-<phase>-<n>``."""

    def __init__(self, corpus: Corpus, prefix: str, authors: int):
        self.corpus = corpus
        self.prefix = prefix
        self.rng = random.Random(SEED)
        self.authors = [f"reader-{i}" for i in range(authors)]
        self._texts: Iterator[Text] = _cycle(corpus.texts)
        self._long: Iterator[Text] = _cycle(corpus.long)
        self._articles = [a.id for a in corpus.articles]

    def take(self, phase: str, n: int, *, long: bool = False) -> list[Comment]:
        source = self._long if long else self._texts
        out = []
        for i in range(n):
            t = next(source)
            article_id = t.article_id or self.rng.choice(self._articles)
            out.append(
                Comment(
                    id=f"{self.prefix}-{phase}-{i}",
                    article_id=article_id,
                    text=t.text,
                    author_id=self.rng.choice(self.authors),
                    source=t.source,
                )
            )
        return out

    def one_per_article(self, phase: str) -> list[Comment]:
        """A comment under each article: computes every article's features before timing."""
        comments = self.take(phase, len(self._articles))
        return [
            Comment(c.id, article_id, c.text, c.author_id, c.source)
            for c, article_id in zip(comments, self._articles, strict=True)
        ]


def _cycle(items: list[Text]) -> Iterator[Text]:
    while True:
        yield from items


def load_corpus(data_dir: Path = SHARED_DATA, *, articles: int = 20) -> Corpus:
    """The real corpus when ``data_dir`` has the files, else the synthetic one."""
    if all((data_dir / p).exists() for p in (CIVIL, GLOBE_COMMENTS, GLOBE_ARTICLES)):
        return real_corpus(data_dir, articles=articles)
    return synthetic_corpus(articles=min(articles, 5))


# --- real data --------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _clean(text: str) -> str:
    return text.replace("\ufeff", "").strip()


def real_texts(data_dir: Path) -> dict[str, list[Text]]:
    """Every usable text of each source, in file order."""
    civil = [
        Text(_clean(r["comment_text"]), "civil_comments")
        for r in _rows(data_dir / CIVIL)
        if _clean(r["comment_text"])
    ]
    globe = [
        Text(_clean(r["comment_text"]), "globe_and_mail", f"globe-{r['article_id']}")
        for r in _rows(data_dir / GLOBE_COMMENTS)
        if r["status"] == "published" and _clean(r["comment_text"])
    ]
    youtube = []
    for path in sorted((data_dir / YOUTUBE).glob("*.csv")):
        for r in _rows(path):
            if r.get("CLASS") != "1":
                continue
            text = _clean(html.unescape(_TAG.sub("\n", r["CONTENT"].replace("<br />", "\n"))))
            if text:
                youtube.append(Text(text, "youtube_spam"))
    return {"civil_comments": civil, "globe_and_mail": globe, "youtube_spam": youtube}


def mix(pools: dict[str, list[Text]], *, seed: int = SEED) -> list[Text]:
    """All texts of the pools, shuffled and interleaved by ``MIX``; once a pool runs out the
    others go on in their own proportions (the first ~1,700 of the real data are the mix)."""
    rng = random.Random(seed)
    shuffled = {name: rng.sample(items, len(items)) for name, items in pools.items() if items}
    out: list[Text] = []
    seen: set[str] = set()
    while shuffled:
        names = list(shuffled)
        name = rng.choices(names, [MIX.get(n, 0.0) or 1e-9 for n in names])[0]
        text = shuffled[name].pop()
        if text.text not in seen:  # the same text twice would look like a spam campaign
            seen.add(text.text)
            out.append(text)
        if not shuffled[name]:
            del shuffled[name]
    return out


def real_corpus(data_dir: Path, *, articles: int) -> Corpus:
    rows = _rows(data_dir / GLOBE_ARTICLES)
    pools = real_texts(data_dir)
    texts = mix(pools)
    used = {t.article_id for t in texts if t.article_id}
    # The articles the Globe comments belong to, then others up to the number asked for.
    chosen = [r for r in rows if f"globe-{r['article_id']}" in used]
    chosen += [r for r in rows if f"globe-{r['article_id']}" not in used][
        : max(0, articles - len(chosen))
    ]
    arts = [
        Article(
            id=f"globe-{r['article_id']}",
            title=r["title"].strip(),
            body=r["article_text"].strip(),
            url=r["article_url"].strip() or None,
        )
        for r in chosen
    ]
    long = [t for t in texts if len(t.text) >= LONG_CHARS]
    return Corpus("shared-data", arts, texts, long)


def length_quantiles(texts: list[Text]) -> tuple[tuple[float, int], ...]:
    """Quantiles of the lengths, each source weighted to its share in ``MIX`` (sources not in
    ``MIX`` count as one text each)."""
    counts: dict[str, int] = {}
    for t in texts:
        counts[t.source] = counts.get(t.source, 0) + 1
    weighted = sorted(
        (len(t.text), MIX.get(t.source, 0.0) / counts[t.source] or 1.0) for t in texts
    )
    total = sum(w for _, w in weighted)
    out, acc, i = [], 0.0, 0
    for p in QUANTILE_POINTS:
        while i < len(weighted) - 1 and acc + weighted[i][1] < p * total:
            acc += weighted[i][1]
            i += 1
        out.append((p, weighted[i][0]))
    return tuple(out)


# --- synthetic fallback -----------------------------------------------------------------

_WORDS = (
    "the council port city minister budget housing rent transit election voters party plan "
    "tax taxes money workers union strike wages police court judge law province federal "
    "government report study data school teachers parents hospital doctors nurses wait times "
    "climate carbon pipeline oil jobs economy prices inflation interest rates bank mortgage "
    "article writer editor story facts numbers opinion readers comment thread years decade "
    "people families seniors students business owners taxpayers pay cost costs billion million "
    "should would could never always really actually simply clearly frankly honestly maybe "
    "good bad better worse fair unfair wrong right true false new old local national public "
    "private support oppose agree disagree think believe know see read wrote said says want "
    "need make take give build cut raise spend save fix vote elect blame thank ask wonder "
    "and or but because so if when while although since unless then also just only even "
    "is are was were be been has have had do does did will not no yes this that these those "
    "a an of to in on for with at by from about over under after before than more less most"
).split()
_RUDE = "idiot stupid moron clueless pathetic garbage ignorant clown".split()


def _sentence(rng: random.Random, words: int, rude: bool) -> str:
    chosen = [rng.choice(_WORDS) for _ in range(words)]
    if rude:
        chosen[rng.randrange(len(chosen))] = rng.choice(_RUDE)
    return " ".join(chosen).capitalize() + rng.choice(".....?!")


def synthetic_length(rng: random.Random) -> int:
    """A comment length drawn from ``LENGTH_QUANTILES`` (linear between the points)."""
    u = rng.random()
    ps = [p for p, _ in LENGTH_QUANTILES]
    i = max(1, bisect.bisect_left(ps, u))
    (p0, l0), (p1, l1) = LENGTH_QUANTILES[i - 1], LENGTH_QUANTILES[i]
    return max(1, round(l0 + (l1 - l0) * (u - p0) / ((p1 - p0) or 1.0)))


def synthetic_text(rng: random.Random, length: int, n: int) -> Text:
    spam = rng.random() < MIX["youtube_spam"]
    rude = rng.random() < 0.25
    parts: list[str] = []
    size = 0
    while size < length:
        s = _sentence(rng, rng.randint(5, 16), rude and not parts)
        parts.append(s)
        size += len(s) + 1
    text = " ".join(parts)[:length].rsplit(" ", 1)[0] if length > 12 else " ".join(parts)[:length]
    if spam:
        text = f"{text} http://deals-{n}.example.biz"[-max(length, 30) :].lstrip()
    text = text.strip() or "ok"
    return Text(text, "synthetic_spam" if spam else "synthetic")


def synthetic_corpus(*, articles: int = 5, count: int = 6000) -> Corpus:
    rng = random.Random(SEED)
    arts = [
        Article(
            id=f"synthetic-{i}",
            title=_sentence(rng, 8, False).rstrip(".?!"),
            body=" ".join(_sentence(rng, rng.randint(10, 25), False) for _ in range(30)),
        )
        for i in range(articles)
    ]
    texts = [synthetic_text(rng, synthetic_length(rng), n) for n in range(count)]
    extra = [synthetic_text(rng, rng.randint(LONG_CHARS, 2000), count + n) for n in range(600)]
    long = [t for t in texts + extra if len(t.text) >= LONG_CHARS]
    return Corpus("synthetic", arts, texts, long)
