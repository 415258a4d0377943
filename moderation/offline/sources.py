"""The development data as multi-label examples, one reader per public source.

Each source carries some of Detoxify's labels and not others; an example holds only the
labels its source carries (a target in [0, 1]: 0/1 where people labelled it, a share of
annotators or Perspective's own score where that is what the source gives). Training masks
the labels an example lacks; evaluation scores each label only on the sources that carry it.

Which source teaches which label (see ``../shared/data/SOURCES.md`` for the files):

=================  ==========================================================================
civil              Civil Comments toxic spans (CC0): ``toxicity`` = most raters did not tick
                   "not toxic"; ``insult``, ``threat``, ``identity_attack``, ``obscene`` =
                   the share of raters who marked a span of that type
davidson           Davidson et al. tweets (MIT): ``toxicity`` = hate or offensive;
                   ``identity_attack`` = hate speech (offensive but not hateful is 0)
stormfront         white-supremacist forum sentences (CC BY-SA): hate → ``toxicity`` and
                   ``identity_attack`` 1, noHate → 0
gab                Gab Hate Corpus majority labels (repository MIT): ``toxicity`` = any of
                   hd/cv/vo; ``identity_attack`` = hd (dehumanising or degrading);
                   ``threat`` = cv (call for violence); ``obscene`` = vo (vulgar)
toxigen            TOXIGEN's human-written statements about 14 groups (MIT): ``toxicity`` and
                   ``identity_attack`` = hate
hatemoji           HatemojiBuild adversarial emoji hate and its contrasts (CC BY 4.0):
                   ``toxicity`` and ``identity_attack`` = label_gold; ``threat`` = hateful
                   and of type threatening language
perspective        Perspective API's 2018 scores on Wikipedia talk comments (Apache-2.0), as
                   soft targets for all seven labels
olid, kaggle       OLID (OffensEval 2019) and Kaggle insults: licence not stated, so
                   evaluation only (``toxicity``; Kaggle also ``insult``)
hard_cases         the project's own hard cases (``data/hard_cases.csv`` beside this
                   module: counter-speech, negation, identity terms, polite threats, emoji,
                   obfuscation), evaluation only: ``toxicity``, ``identity_attack``,
                   ``threat``, ``insult``
=================  ==========================================================================

HatemojiCheck and HateCheck (the public functional test suites) are not among them, and
must not be: they are how others will judge the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from moderation.exceptions import ConfigurationError
from moderation.offline.datasets import read_records
from moderation.scoring.detoxify import TOXICITY_LABELS

LABELS = TOXICITY_LABELS
"""Detoxify's label names, in its order: the offline model gives the same attributes."""

EVALUATION_ONLY = frozenset({"olid", "kaggle", "hard_cases"})
"""Measured on, never trained on: sources whose licence is not stated, and the project's
own hard cases (training on them would make them easy)."""

HARD_CASES_PATH = Path(__file__).resolve().parent / "data" / "hard_cases.csv"

MAX_TEXT_CHARS = 4000


@dataclass(frozen=True)
class LabelledText:
    text: str
    source: str
    labels: dict[str, float] = field(default_factory=dict)
    """Label → target in [0, 1]; the labels the source does not carry are absent."""
    group: str | None = None
    """A part of the source reported on its own (the hard cases' category), or None."""

    def positive(self, label: str) -> bool | None:
        """Whether it counts as ``label`` when a 0/1 answer is needed (target ≥ 0.5)."""
        target = self.labels.get(label)
        return None if target is None else target >= 0.5


def _text(raw: object) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    return raw.strip()[:MAX_TEXT_CHARS]


def civil(data_dir: Path) -> list[LabelledText]:
    spans_dir = data_dir / "toxicity" / "civil_comments_toxic_spans"
    if not (spans_dir / "comments.csv").exists():
        return []
    kinds = {
        "Insult": "insult",
        "Threat": "threat",
        "Identity based Attack": "identity_attack",
        "Profane/Obscene": "obscene",
    }
    raters: dict[str, list[str]] = {}  # comment id -> annotation ids
    not_toxic: dict[str, int] = {}
    for _, row in read_records(spans_dir / "annotations.csv"):
        raters.setdefault(row["comment_id"], []).append(row["annotation"])
        not_toxic[row["comment_id"]] = not_toxic.get(row["comment_id"], 0) + (
            row["not toxic"] == "True"
        )
    marked: dict[str, set[str]] = {}  # annotation id -> span kinds it marked
    for _, row in read_records(spans_dir / "spans.csv"):
        if row["type"] in kinds:
            marked.setdefault(row["annotation"], set()).add(kinds[row["type"]])
    examples = []
    for _, row in read_records(spans_dir / "comments.csv"):
        text, annotations = _text(row["comment_text"]), raters.get(row["comment_id"])
        if text is None or not annotations:
            continue
        n = len(annotations)
        labels = {"toxicity": float(not_toxic[row["comment_id"]] * 2 < n)}
        for kind in kinds.values():
            labels[kind] = round(sum(kind in marked.get(a, ()) for a in annotations) / n, 3)
        examples.append(LabelledText(text, "civil", labels))
    return examples


def davidson(data_dir: Path) -> list[LabelledText]:
    path = data_dir / "toxicity" / "davidson_labeled_data.csv"
    if not path.exists():
        return []
    examples = []
    for _, row in read_records(path):  # class 0 hate speech, 1 offensive, 2 neither
        text = _text(row["tweet"])
        if text is not None and row["class"] in ("0", "1", "2"):
            hate, offensive = float(row["class"] == "0"), float(row["class"] == "1")
            labels = {"toxicity": max(hate, offensive), "identity_attack": hate}
            examples.append(LabelledText(text, "davidson", labels))
    return examples


def stormfront(data_dir: Path) -> list[LabelledText]:
    path = data_dir / "hate" / "stormfront.csv"
    if not path.exists():
        return []
    examples = []
    for _, row in read_records(path):  # relation (hate only in context) and idk/skip: out
        text = _text(row["text"])
        if text is not None and row["label"] in ("hate", "noHate"):
            hate = float(row["label"] == "hate")
            examples.append(
                LabelledText(text, "stormfront", {"toxicity": hate, "identity_attack": hate})
            )
    return examples


def gab(data_dir: Path) -> list[LabelledText]:
    path = data_dir / "hate" / "gab_majority.csv"
    if not path.exists():
        return []
    examples = []
    for _, row in read_records(path):
        text = _text(row["text"])
        if text is None:
            continue
        hd, cv, vo = (float(row[k] == "1") for k in ("hd", "cv", "vo"))
        labels = {"toxicity": max(hd, cv, vo), "identity_attack": hd, "threat": cv, "obscene": vo}
        examples.append(LabelledText(text, "gab", labels))
    return examples


def toxigen(data_dir: Path) -> list[LabelledText]:
    path = data_dir / "hate" / "toxigen_demonstrations.csv"
    if not path.exists():
        return []
    examples = []
    for _, row in read_records(path):
        text = _text(row["text"])
        if text is not None and row["hate"] in ("0", "1"):
            hate = float(row["hate"] == "1")
            examples.append(
                LabelledText(text, "toxigen", {"toxicity": hate, "identity_attack": hate})
            )
    return examples


def hatemoji(data_dir: Path) -> list[LabelledText]:
    folder = data_dir / "hate" / "hatemoji_build"
    examples = []
    for part in ("train", "validation", "test"):
        path = folder / f"{part}.csv"
        if not path.exists():
            continue
        for _, row in read_records(path):
            text = _text(row["text"])
            if text is None or row["label_gold"] not in ("0", "1"):
                continue
            hate = float(row["label_gold"] == "1")
            threat = hate * float(row["type"] == "threateninglanguage")
            labels = {"toxicity": hate, "identity_attack": hate, "threat": threat}
            examples.append(LabelledText(text, "hatemoji", labels))
    return examples


PERSPECTIVE_COLUMNS = {
    "toxicity": "TOXICITY@6",
    "severe_toxicity": "SEVERE_TOXICITY@2",
    "obscene": "OBSCENE",
    "threat": "THREAT",
    "insult": "INSULT",
    "identity_attack": "IDENTITY_ATTACK",
    "sexual_explicit": "SEXUALLY_EXPLICIT",
}
"""Perspective's attribute for each of Detoxify's labels."""


def perspective(
    data_dir: Path, columns: Mapping[str, str] = PERSPECTIVE_COLUMNS
) -> list[LabelledText]:
    """Perspective's scored Wikipedia comments, each label read from its ``columns`` entry."""
    path = data_dir / "hate" / "perspective_scores_wikipedia_1k.csv"
    if not path.exists():
        return []
    examples = []
    for _, row in read_records(path):
        text = _text(row["comment_text"])
        if text is None:
            continue
        try:
            labels = {label: float(row[column]) for label, column in columns.items()}
        except (KeyError, ValueError):
            continue
        examples.append(LabelledText(text, "perspective", labels))
    return examples


def olid(data_dir: Path) -> list[LabelledText]:
    path = data_dir / "toxicity" / "olid-training-v1.0.tsv"
    if not path.exists():
        return []
    examples = []
    for _, row in read_records(path):
        text = _text(row["tweet"])
        if text is not None and row["subtask_a"] in ("OFF", "NOT"):
            labels = {"toxicity": float(row["subtask_a"] == "OFF")}
            examples.append(LabelledText(text, "olid", labels))
    return examples


_BYTE_RUN = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[ntr'\"\\])")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "'": "'", '"': '"', "\\": "\\"}


def kaggle_text(raw: str) -> str:
    """The Kaggle insults file escapes text: runs of ``\\xNN`` are UTF-8 bytes."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    text = _BYTE_RUN.sub(
        lambda m: bytes.fromhex(m.group(0).replace("\\x", "")).decode("utf-8", "replace"), text
    )
    return _ESCAPE.sub(
        lambda m: (
            chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "u" else _SIMPLE_ESCAPES[m.group(1)]
        ),
        text,
    )


def kaggle(data_dir: Path) -> list[LabelledText]:
    path = data_dir / "toxicity" / "insults_kaggle_train.csv"
    if not path.exists():
        return []
    examples = []
    for _, row in read_records(path):
        text = _text(kaggle_text(row["Comment"]))
        if text is not None and row["Insult"] in ("0", "1"):
            insult = float(row["Insult"] == "1")
            examples.append(LabelledText(text, "kaggle", {"toxicity": insult, "insult": insult}))
    return examples


def hard_cases(data_dir: Path) -> list[LabelledText]:
    """The project's file, wherever the development data is (``data_dir`` is not read)."""
    if not HARD_CASES_PATH.exists():
        return []
    examples = []
    for _, row in read_records(HARD_CASES_PATH):
        text = _text(row["text"])
        if text is not None:
            labels = {k: float(row[k]) for k in ("toxicity", "identity_attack", "threat", "insult")}
            examples.append(LabelledText(text, "hard_cases", labels, group=row["category"]))
    return examples


READERS: dict[str, Callable[[Path], list[LabelledText]]] = {
    "civil": civil,
    "davidson": davidson,
    "stormfront": stormfront,
    "gab": gab,
    "toxigen": toxigen,
    "hatemoji": hatemoji,
    "perspective": perspective,
    "olid": olid,
    "kaggle": kaggle,
    "hard_cases": hard_cases,
}


def shared_sources(data_dir: Path, names: list[str] | None = None) -> dict[str, list[LabelledText]]:
    """Each source found under ``data_dir`` (``../shared/data``), by name; absent ones are
    left out."""
    found = {}
    for name in names or list(READERS):
        examples = READERS[name](data_dir)
        if examples:
            found[name] = examples
    return found


def check_sources(names: Sequence[str], option: str) -> None:
    unknown = [name for name in names if name not in READERS]
    if unknown:
        raise ConfigurationError(
            f"Option {option} names unknown source(s) {', '.join(unknown)}; "
            f"expected names from {', '.join(READERS)}."
        )
