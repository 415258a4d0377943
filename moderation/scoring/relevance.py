"""Relevance: is a comment about its article (or, for a reply, about its parent)?

The article is embedded once per version (:meth:`RelevanceScorer.article_features`): its
title and overlapping chunks of its body, so that the end of a long article counts as much
as its start. A comment's raw similarity is the cosine to the best chunk and to the title.

Raw cosines sit in a narrow band and short comments score low against everything, so the
score is calibrated: the comment is also compared with a fixed bank of texts about
unrelated subjects (``_REFERENCE_TEXTS``, less the few nearest to the article itself: a
recipe in the bank is no "unrelated subject" under a recipe), and a logistic model over the
resulting features (``models/relevance_calibration.json``, fitted on comments placed under
their own and under unrelated articles; see ``docs/scoring.md``) maps them to a probability
of being on-topic. A reply counts as on-topic when it is on-topic for its parent comment.

A comment that says the same sentence again is read once per distinct sentence
(:func:`distinct_sentences`): repeats would otherwise fill MiniLM's 256 word pieces, drift
its mean-pooled embedding, and count as length.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from moderation.scoring._embedding import Embedder
from moderation.scoring.base import ArticleInput, CommentInput, ScoreResult

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_CALIBRATION_PATH = MODELS_DIR / "relevance_calibration.json"

DEFAULT_CHUNK_WORDS = 60
"""Words per article chunk: near comment length, well under MiniLM's 256 word pieces."""

DEFAULT_CHUNK_STRIDE = 45
"""Words between chunk starts (chunks overlap by 15 words so no sentence is cut off alone)."""

DEFAULT_MAX_CHUNKS = 200
"""Chunks kept per article (~9,000 words); longer articles are sampled evenly."""

DEFAULT_ARTICLE_CACHE = 256
"""Articles whose features a worker keeps in memory when the caller passes none."""

DEFAULT_MAX_COMMENT_CHARS = 2000

DEFAULT_REFERENCE_EXCLUDED = 3
"""Reference texts left out for each article (or parent): the ones nearest to it, so the
margin over "unrelated subjects" never measures the article's own subject."""

FEATURES_VERSION = 1
"""Bumped when the stored article features change shape; older blobs are recomputed."""

# Subjects unrelated to one another: how similar a comment is to these says how much
# of its similarity to the article is just "sounds like a sentence".
_REFERENCE_TEXTS: tuple[str, ...] = (
    "The recipe calls for two cups of flour, butter and a pinch of salt, baked for 25 minutes.",
    "The striker scored twice in the second half and the home team won the league title.",
    "Heavy rain and strong winds are expected across the region over the weekend.",
    "The new phone has a larger battery, a faster chip and a better camera.",
    "Tomatoes grow best in full sun; water them deeply twice a week.",
    "The band's third album mixes folk guitars with electronic beats.",
    "The film's sequel breaks box office records on its opening weekend.",
    "Mortgage rates rose again this month as the central bank held interest rates.",
    "Regular exercise and sleep lower the risk of heart disease, doctors say.",
    "The cheapest flights to the islands leave on Tuesday mornings in spring.",
    "Our cat refuses to eat anything but fresh fish and sleeps all afternoon.",
    "The electric car can drive 500 kilometres on a single charge.",
    "The museum opens a new exhibition of medieval tapestries next month.",
    "Astronomers found water vapour in the atmosphere of a distant planet.",
    "The city council approved a new bike lane along the river.",
    "She knitted a wool scarf for her grandson's birthday.",
    "The video game's update adds new maps and fixes several bugs.",
    "Wine from this valley is known for its dry whites and mild reds.",
    "The school board voted to start classes later in the morning.",
    "Fishermen reported a record catch of salmon this season.",
    "A new smartphone app helps you track your daily water intake.",
    "The wedding dress was made of silk and lace with a long train.",
    "Stock markets closed higher after strong earnings from tech companies.",
    "The marathon runners crossed the finish line in record heat.",
    "Fold the paper in half, then cut along the dotted line to make a card.",
    "The chess champion defended her title in a tense final game.",
    "Scientists say the bees are returning to the meadows after the drought.",
    "The bakery on the corner sells the best croissants in town.",
    "The hotel pool was closed for repairs during our whole stay.",
    "Learn to play guitar in ten minutes a day with these simple chords.",
)

_WORD = re.compile(r"\S+")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*[\"'\u201d\u2019)\]]*")
_TOKEN = re.compile(r"\w+")


def distinct_sentences(text: str) -> str:
    """``text`` without the sentences it has already said (compared by their words, case
    folded), the others joined by spaces; ``text`` itself when no sentence repeats."""
    seen: set[tuple[str, ...]] = set()
    kept: list[str] = []
    repeated = False
    for match in _SENTENCE.finditer(text):
        key = tuple(_TOKEN.findall(match.group().casefold()))
        if not key:
            continue
        if key in seen:
            repeated = True
            continue
        seen.add(key)
        kept.append(match.group().strip())
    return " ".join(kept) if repeated else text


def unrelated_reference(
    reference: np.ndarray, target: np.ndarray, *, excluded: int = DEFAULT_REFERENCE_EXCLUDED
) -> np.ndarray:
    """The rows of ``reference`` less the ``excluded`` ones nearest to any row of ``target``."""
    if excluded <= 0 or excluded >= len(reference):
        return reference
    nearest = np.max(reference @ target.T, axis=1)
    keep = np.sort(np.argsort(-nearest, kind="stable")[excluded:])
    return reference[keep]


@dataclass
class ArticleEmbedding:
    """An article's title and chunk embeddings; row 0 is the title."""

    vectors: np.ndarray  # (n, dim) float32, unit length
    offsets: np.ndarray  # (n, 2) int32 character offsets into the body; (-1, -1) for the title

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            version=np.int32(FEATURES_VERSION),
            vectors=self.vectors.astype(np.float16),
            offsets=self.offsets.astype(np.int32),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ArticleEmbedding | None:
        """The stored features, or None when they are unreadable or from another version."""
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as data:
                if int(data["version"]) != FEATURES_VERSION:
                    return None
                return cls(
                    vectors=np.asarray(data["vectors"], dtype=np.float32),
                    offsets=np.asarray(data["offsets"], dtype=np.int32),
                )
        except (OSError, KeyError, ValueError):
            return None


def chunk_spans(
    text: str,
    *,
    words: int = DEFAULT_CHUNK_WORDS,
    stride: int = DEFAULT_CHUNK_STRIDE,
    max_chunks: int = DEFAULT_MAX_CHUNKS,
) -> list[tuple[int, int]]:
    """Character spans of overlapping word windows covering all of ``text``."""
    tokens = [m.span() for m in _WORD.finditer(text)]
    if not tokens:
        return []
    starts = list(range(0, max(len(tokens) - words, 0) + 1, stride))
    if starts[-1] + words < len(tokens):
        starts.append(len(tokens) - words)  # the last words always get a chunk of their own
    if len(starts) > max_chunks:
        keep = np.linspace(0, len(starts) - 1, max_chunks).round().astype(int)
        starts = [starts[i] for i in sorted(set(keep.tolist()))]
    spans = []
    for start in starts:
        end = min(start + words, len(tokens)) - 1
        spans.append((tokens[start][0], tokens[end][1]))
    return spans


FEATURE_NAMES = ("best", "title", "top3", "best_minus_reference", "reference_max", "log_words")
"""What :func:`raw_features` computes for a comment against an article."""

CALIBRATION_FEATURES = ("best", "title", "best_minus_reference", "log_words")
"""The calibration's inputs: the best chunk, the title (so the title weighs on every
comparison), the margin over unrelated texts, and length (short comments match less)."""


@dataclass
class RelevanceCalibration:
    """Logistic map from some of :data:`FEATURE_NAMES` to P(on-topic)."""

    coef: np.ndarray
    intercept: float
    features: tuple[str, ...] = CALIBRATION_FEATURES
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._columns = [FEATURE_NAMES.index(name) for name in self.features]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """P(on-topic) for rows of raw features (all of :data:`FEATURE_NAMES`)."""
        selected = np.asarray(features, dtype=np.float64)[:, self._columns]
        z = selected @ self.coef + self.intercept
        p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return p

    @classmethod
    def default(cls) -> RelevanceCalibration:
        # Used only when the shipped file is missing: roughly the fitted one.
        return cls(coef=np.array([4.1, 6.6, 4.6, -0.8]), intercept=-0.9)

    @classmethod
    def load(cls, path: Path = DEFAULT_CALIBRATION_PATH) -> RelevanceCalibration:
        if not path.exists():
            return cls.default()
        data = json.loads(path.read_text())
        features = tuple(data["features"])
        if not set(features) <= set(FEATURE_NAMES) or len(features) != len(data["coef"]):
            return cls.default()
        return cls(
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=float(data["intercept"]),
            features=features,
            metadata=data.get("metadata", {}),
        )

    def save(self, path: Path = DEFAULT_CALIBRATION_PATH) -> None:
        payload = {
            "features": list(self.features),
            "coef": [round(float(c), 6) for c in self.coef],
            "intercept": round(float(self.intercept), 6),
            "metadata": self.metadata,
        }
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def raw_features(
    comment: np.ndarray, target: np.ndarray, reference: np.ndarray, words: int
) -> tuple[np.ndarray, int]:
    """Features of one comment embedding against one target (rows: title first, then chunks);
    ``reference``: the unrelated texts for this target (:func:`unrelated_reference`).

    Returns (features, best row index)."""
    sims = target @ comment
    chunk_sims = sims[1:] if len(sims) > 1 else sims
    best_row = int(np.argmax(sims))
    best = float(sims[best_row])
    top3 = float(np.mean(np.sort(chunk_sims)[-3:]))
    ref = reference @ comment
    ref_max = float(np.max(ref))
    features = np.array(
        [best, float(sims[0]), top3, best - ref_max, ref_max, np.log1p(words)], dtype=np.float64
    )
    return features, best_row


class RelevanceScorer:
    """``relevance`` in [0, 1]: P(on-topic for the article or, for a reply, for its parent)."""

    name = "relevance"
    labels: tuple[str, ...] = ("relevance",)

    def __init__(
        self,
        *,
        embedder: Embedder,
        calibration: RelevanceCalibration | None = None,
        max_comment_chars: int = DEFAULT_MAX_COMMENT_CHARS,
    ) -> None:
        self.embedder = embedder
        self.calibration = calibration or RelevanceCalibration.load()
        self.max_comment_chars = max_comment_chars
        self.reference = embedder.encode(_REFERENCE_TEXTS)
        self._cache: OrderedDict[str, ArticleEmbedding] = OrderedDict()

    # --- articles -------------------------------------------------------------------------
    def embed_article(self, article: ArticleInput) -> ArticleEmbedding:
        spans = chunk_spans(article.body)
        texts = [article.title or article.body[:200]]
        texts += [article.body[start:end] for start, end in spans]
        offsets = [(-1, -1), *spans]
        return ArticleEmbedding(
            vectors=self.embedder.encode(texts), offsets=np.asarray(offsets, dtype=np.int32)
        )

    def article_features(self, article: ArticleInput) -> bytes:
        return self.embed_article(article).to_bytes()

    def _article(self, article: ArticleInput) -> ArticleEmbedding:
        blob = article.features.get(self.name)
        if blob:
            stored = ArticleEmbedding.from_bytes(blob)
            if stored is not None:
                return stored
        key = (
            article.content_hash
            or hashlib.sha256(f"{article.title}\0{article.body}".encode()).hexdigest()
        )
        key = f"{article.id}\0{key}"
        cached = self._cache.get(key)
        if cached is None:
            cached = self.embed_article(article)
            self._cache[key] = cached
            while len(self._cache) > DEFAULT_ARTICLE_CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return cached

    # --- comments -------------------------------------------------------------------------
    def features(self, comments: Sequence[CommentInput]) -> list[dict[str, Any]]:
        """Raw features per comment: ``article`` (and ``parent`` for replies, else None) as
        arrays over :data:`FEATURE_NAMES`, and ``best_row``, the best-matching article row."""
        texts = [distinct_sentences(c.text[: self.max_comment_chars]) for c in comments]
        parents = [
            distinct_sentences(c.parent_text[: self.max_comment_chars])
            for c in comments
            if c.parent_text
        ]
        vectors = self.embedder.encode(texts + parents)
        comment_vectors, parent_vectors = vectors[: len(texts)], vectors[len(texts) :]
        out = []
        parent_index = 0
        for comment, text, vector in zip(comments, texts, comment_vectors, strict=True):
            article = self._article(comment.article)
            words = len(_WORD.findall(text))
            reference = unrelated_reference(self.reference, article.vectors)
            features, best_row = raw_features(vector, article.vectors, reference, words)
            parent_features = None
            if comment.parent_text:
                parent_vector = parent_vectors[parent_index]
                parent_index += 1
                target = np.vstack([parent_vector, parent_vector])
                reference = unrelated_reference(self.reference, target)
                parent_features, _ = raw_features(vector, target, reference, words)
            out.append(
                {
                    "article": features,
                    "parent": parent_features,
                    "best_row": best_row,
                    "embedding": article,
                }
            )
        return out

    def score(self, comments: Sequence[CommentInput]) -> list[ScoreResult]:
        if not comments:
            return []
        results = []
        for comment, item in zip(comments, self.features(comments), strict=True):
            features = item["article"]
            on_article = float(self.calibration.predict(features[None, :])[0])
            evidence: dict[str, Any] = {
                "article": round(on_article, 4),
                "cosine": round(float(features[0]), 4),
                "title_cosine": round(float(features[1]), 4),
                "reference_cosine": round(float(features[4]), 4),
                "best_match": _match_evidence(comment.article, item["embedding"], item["best_row"]),
            }
            score = on_article
            if item["parent"] is not None:
                on_parent = float(self.calibration.predict(item["parent"][None, :])[0])
                evidence["parent"] = round(on_parent, 4)
                evidence["parent_cosine"] = round(float(item["parent"][0]), 4)
                evidence["parent_matched"] = on_parent > on_article
                score = max(on_article, on_parent)
            results.append(
                ScoreResult(scores={"relevance": score}, evidence={"relevance": evidence})
            )
        return results


def _match_evidence(article: ArticleInput, embedding: ArticleEmbedding, row: int) -> dict[str, Any]:
    start, end = (int(v) for v in embedding.offsets[row])
    if start < 0:
        return {"part": "title", "excerpt": article.title[:200]}
    excerpt = article.body[start:end]
    if len(excerpt) > 600:  # a chunk is ~60 words; keep the evidence bounded all the same
        excerpt = excerpt[:597] + "..."
    return {"part": "body", "start": start, "end": end, "excerpt": excerpt}
