"""Perspective's request and response messages, camelCase on the wire.

Field names follow the ``commentanalyzer`` v1alpha1 discovery document. Like Google's JSON
parser, requests accept each field's snake_case name too (``requested_attributes``). Fields
this service does not know are ignored (a newer client's additions must not break it).
Checks that have Perspective's own messages (empty comment, unknown attribute, both context
forms...) are not declared here but made by :mod:`moderation.perspective.request`, so the
messages stay Perspective's.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class TextEntry(_Wire):
    text: str | None = None
    type: str | None = Field(default=None, description='"PLAIN_TEXT" (default) or "HTML".')


class ArticleAndParentComment(_Wire):
    article: TextEntry | None = None
    parent_comment: TextEntry | None = None


class Context(_Wire):
    entries: list[TextEntry] | None = None
    article_and_parent_comment: ArticleAndParentComment | None = None


class AttributeParameters(_Wire):
    score_type: str | None = None
    score_threshold: float | None = None


class AnalyzeCommentRequest(_Wire):
    comment: TextEntry | None = None
    context: Context | None = None
    requested_attributes: dict[str, AttributeParameters | None] | None = None
    languages: list[str] | None = None
    do_not_store: bool | None = None
    span_annotations: bool | None = None
    client_token: str | None = None
    session_id: str | None = None
    community_id: str | None = None
    drop_unsupported_attributes: bool | None = None


class Score(_Wire):
    value: float | None = None
    type: str | None = None


class SpanScore(_Wire):
    begin: int | None = None
    end: int | None = None
    score: Score | None = None


class AttributeScores(_Wire):
    summary_score: Score | None = None
    span_scores: list[SpanScore] | None = None


class SuggestCommentScoreRequest(_Wire):
    comment: TextEntry | None = None
    context: Context | None = None
    attribute_scores: dict[str, AttributeScores] | None = None
    languages: list[str] | None = None
    community_id: str | None = None
    client_token: str | None = None
    session_id: str | None = None
    do_not_store: bool | None = Field(
        default=None,
        description="Not Perspective's (it stores every suggestion): true keeps the text out "
        "of the stored label.",
    )


# --- responses: built as the dicts Perspective sends (absent fields left out) -------------


class ScoreOut(_Wire):
    value: float
    type: str = "PROBABILITY"


class SpanScoreOut(_Wire):
    begin: int
    end: int
    score: ScoreOut


class AttributeScoresOut(_Wire):
    summary_score: ScoreOut | None = None
    span_scores: list[SpanScoreOut] | None = None


class AnalyzeCommentResponse(_Wire):
    attribute_scores: dict[str, AttributeScoresOut]
    languages: list[str]
    detected_languages: list[str] | None = None
    client_token: str | None = None

    def wire(self) -> dict[str, object]:
        """The JSON body: camelCase, absent fields left out (as Google's JSON printer does)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class SuggestCommentScoreResponse(_Wire):
    client_token: str | None = None
    detected_languages: list[str] | None = None
    requested_languages: list[str] | None = None

    def wire(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, exclude_none=True)
