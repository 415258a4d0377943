"""Where a comment enters: store, commit, then enqueue its id for scoring."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from moderation import defaults
from moderation.api.deps import PublisherDep, RedisDep, SessionDep, SettingsDep, SiteDep
from moderation.api.errors import ApiError, error_body, pydantic_fields
from moderation.api.schemas import (
    BatchCreate,
    BatchItemResult,
    BatchResult,
    CommentCreate,
    CommentPublic,
    ErrorBody,
    FieldError,
    Identifier,
    comment_public,
)
from moderation.comments import (
    NewComment,
    create_comment,
    create_comments,
    get_comment,
    load_comments,
)
from moderation.db.models import CommentStatus, utcnow
from moderation.db.scoping import current_site
from moderation.db.session import READ_ONLY, database_unavailable, read_only
from moderation.exceptions import ConflictError, QueueUnavailableError, UnknownReferenceError
from moderation.queue import ask_explain, enqueue_scoring, plan_scoring, push_scoring
from moderation.reports import report_tally
from moderation.scoring import spans_pending
from moderation.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/comments", tags=["comments"])

CommentId = Annotated[Identifier, Path(description="The publisher's comment id")]
_comment_adapter: TypeAdapter[CommentCreate] = TypeAdapter(CommentCreate)


def _length_errors(comment_in: CommentCreate, settings: Settings) -> list[dict[str, str]]:
    if len(comment_in.text) > settings.max_comment_chars:
        return [
            {
                "field": "text",
                "message": f"is {len(comment_in.text)} characters long; the limit is "
                f"{settings.max_comment_chars} (MODERATION_MAX_COMMENT_CHARS)",
                "type": "string_too_long",
            }
        ]
    return []


def _new(comment_in: CommentCreate) -> NewComment:
    return NewComment(
        id=comment_in.id,
        article_id=comment_in.article_id,
        text=comment_in.text,
        author_id=comment_in.author.id,
        author_name=comment_in.author.name,
        parent_id=comment_in.parent_id,
        created_at=comment_in.created_at,
    )


def _enqueue(session: Session, redis_conn: Any, settings: Settings, ids: list[str]) -> None:
    """Queue committed comments. Redis or the database being down is no error here: what
    is not queued (or whose job id is not recorded) now, the sweeper queues later."""
    if not ids:
        return
    try:
        enqueue_scoring(session=session, conn=redis_conn, settings=settings, comment_ids=ids)
    except QueueUnavailableError as exc:
        # Stored and committed: the sweeper enqueues it once Redis is back.
        log.warning("%d comment(s) stored but not queued: %s", len(ids), exc)
    except SQLAlchemyError as exc:
        # Queued, but their job ids not recorded: the sweeper queues them again, and the
        # second job finds them decided (or decides them, once).
        unavailable = database_unavailable(exc)
        if unavailable is None:
            raise
        session.rollback()
        log.warning("%d comment(s) queued, job ids not recorded: %s", len(ids), unavailable)


def _reread(session: Session, ids: list[str]) -> dict[str, CommentPublic]:
    """Stored comments as they are now (a duplicate may have been decided already).

    The commit is the promise: if the database cannot be read at this point, these are
    left out of the answer instead of answering 503 for a request whose comments are stored."""
    session.expire_all()
    try:
        session.connection(execution_options={READ_ONLY: True})  # on SQLite, never waits
        return {cid: comment_public(c) for cid, c in load_comments(session, ids).items()}
    except SQLAlchemyError as exc:
        unavailable = database_unavailable(exc)
        if unavailable is None:
            raise
        session.rollback()
        log.warning("answering without the stored duplicates: %s", unavailable)
        return {}


@router.post(
    "",
    status_code=202,
    response_model=CommentPublic,
    responses={
        200: {"model": CommentPublic, "description": "Already stored with the same content"},
        409: {"model": ErrorBody},
        422: {"model": ErrorBody},
    },
    summary="Submit a comment for moderation",
)
def create_comment_route(
    comment_in: CommentCreate,
    session: SessionDep,
    settings: SettingsDep,
    redis_conn: RedisDep,
    _: PublisherDep,
    response: Response,
) -> CommentPublic:
    errors = _length_errors(comment_in, settings)
    if errors:
        raise ApiError(422, "validation_error", f"text: {errors[0]['message']}", errors)
    comment, created = create_comment(session=session, new=_new(comment_in))
    if not created:  # the same comment again: the stored one as it is now
        response.status_code = 200
        current = comment_public(get_comment(session, comment.id))
        session.commit()
        return current
    # Its job is chosen now and stored with it (one transaction, one commit); it reaches
    # Redis after the commit, so the worker finds the comment. If Redis is down, the job id
    # stays without a live job and the sweeper queues the comment later.
    planned = plan_scoring(settings, current_site(session), [comment.id])
    comment.job_id, comment.enqueued_at = planned.jobs[0][0], utcnow()
    session.commit()
    committed = comment_public(comment)  # the new row as just written (pending): no query
    try:
        push_scoring(redis_conn, settings, planned)
    except QueueUnavailableError as exc:
        log.warning("1 comment stored but not queued: %s", exc)
    return committed


class BatchRefused(ErrorBody):
    """Every item of the batch was refused: the error shape, with each item's result."""

    accepted: int
    duplicates: int
    failed: int
    results: list[BatchItemResult]


@router.post(
    "/batch",
    status_code=202,
    response_model=BatchResult,
    responses={
        422: {"model": BatchRefused, "description": "Every item was refused; nothing stored"},
        409: {"model": BatchRefused, "description": "Every item conflicts with a stored one"},
    },
    summary="Submit up to 1000 comments; each item is accepted or refused on its own",
)
def create_comments_batch(
    batch: BatchCreate,
    session: SessionDep,
    settings: SettingsDep,
    redis_conn: RedisDep,
    _: PublisherDep,
) -> BatchResult | JSONResponse:
    if len(batch.comments) > settings.max_batch_items:
        raise ApiError(
            422,
            "validation_error",
            f"comments: {len(batch.comments)} items; the limit is {settings.max_batch_items}",
            [
                {
                    "field": "comments",
                    "message": f"more than {settings.max_batch_items} items",
                    "type": "too_long",
                }
            ],
        )
    results: dict[int, BatchItemResult] = {}
    valid: list[tuple[int, str | None, NewComment]] = []
    for index, raw in enumerate(batch.comments):
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        item_id = raw_id if isinstance(raw_id, str) else None
        try:
            comment_in = _comment_adapter.validate_python(raw)
        except ValidationError as exc:
            fields = pydantic_fields(list(exc.errors()), strip_body=False)
            for f in fields:  # an error about the item as a whole
                if f["field"] == "body":
                    f["field"] = f"comments.{index}"
            results[index] = _item_error(index, item_id, 422, "validation_error", fields)
            continue
        errors = _length_errors(comment_in, settings)
        if errors:
            results[index] = _item_error(index, item_id, 422, "validation_error", errors)
            continue
        valid.append((index, item_id, _new(comment_in)))
    accepted: list[str] = []
    committed: dict[str, CommentPublic] = {}
    outcomes = create_comments(session=session, news=[item[2] for item in valid])
    for (index, item_id, _new_item), outcome in zip(valid, outcomes, strict=True):
        if isinstance(outcome, UnknownReferenceError):
            msg = f"{outcome.kind} {outcome.ident!r} does not exist"
            results[index] = _item_error(
                index,
                item_id,
                422,
                "validation_error",
                [{"field": outcome.field, "message": msg, "type": "unknown_reference"}],
            )
            continue
        if isinstance(outcome, ConflictError):
            results[index] = _item_error(index, item_id, 409, "conflict", [], str(outcome))
            continue
        comment, created = outcome
        if created:
            accepted.append(comment.id)
            committed[comment.id] = comment_public(comment)  # the new row: no query
        results[index] = BatchItemResult(
            index=index,
            id=comment.id,
            result="accepted" if created else "duplicate",
            status_code=202 if created else 200,
        )
    ordered = [results[index] for index in range(len(batch.comments))]
    if ordered and all(r.result == "error" for r in ordered):
        session.rollback()
        return _refused(ordered)
    session.commit()
    _enqueue(session, redis_conn, settings, accepted)
    # A new comment is answered as just written (pending: its job was queued a moment ago);
    # a duplicate as it is stored now, which may be decided.
    duplicates = [r.id for r in ordered if r.result == "duplicate" and r.id]
    stored = {**committed, **(_reread(session, duplicates) if duplicates else {})}
    for item in ordered:
        if item.result != "error" and item.id is not None:
            item.comment = stored.get(item.id)
    return BatchResult(
        accepted=sum(r.result == "accepted" for r in ordered),
        duplicates=sum(r.result == "duplicate" for r in ordered),
        failed=sum(r.result == "error" for r in ordered),
        results=ordered,
    )


def _refused(ordered: list[BatchItemResult]) -> JSONResponse:
    """422 (409 when every item conflicts) naming each item's fields as ``comments.N.field``."""
    fields: list[dict[str, str]] = []
    for item in ordered:
        assert item.error is not None
        prefix = f"comments.{item.index}"
        item_fields = item.error.fields or [
            FieldError(field=prefix, message=item.error.message, type=item.error.error)
        ]
        for f in item_fields:
            own = f.field == prefix or f.field.startswith(prefix + ".")
            name = f.field if own else f"{prefix}.{f.field}"
            fields.append({"field": name, "message": f.message, "type": f.type})
    conflicts = all(item.status_code == 409 for item in ordered)
    code, status = ("conflict", 409) if conflicts else ("validation_error", 422)
    shown = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    more = f" (and {len(fields) - 5} more)" if len(fields) > 5 else ""
    body = BatchRefused(
        error=code,
        message=f"every item of the batch was refused, nothing was stored: {shown}{more}",
        fields=[FieldError(**f) for f in fields],
        accepted=0,
        duplicates=0,
        failed=len(ordered),
        results=ordered,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def _item_error(
    index: int,
    item_id: str | None,
    status_code: int,
    code: str,
    fields: list[dict[str, str]],
    message: str | None = None,
) -> BatchItemResult:
    message = message or "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    body = error_body(code, message, fields)
    return BatchItemResult(
        index=index,
        id=item_id,
        result="error",
        status_code=status_code,
        error=ErrorBody(
            error=body["error"],
            message=body["message"],
            fields=[FieldError(**f) for f in body["fields"]],
        ),
    )


@router.get(
    "/{comment_id}",
    response_model=CommentPublic,
    responses={404: {"model": ErrorBody}},
    summary="A comment, its scores, its decisions and its readers' reports",
)
async def read_comment(
    comment_id: CommentId,
    request: Request,
    _: PublisherDep,
    site: SiteDep,
    redis_conn: RedisDep,
    settings: SettingsDep,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=defaults.DEFAULT_MAX_WAIT_SECONDS,
            description="Hold the request up to this many seconds until a decision exists",
        ),
    ] = 0,
    explain: Annotated[
        bool,
        Query(
            description="Queue the evidence spans of an approved comment whose spans are "
            "pending (rejected and escalated comments get theirs without asking); the "
            "answer shows them pending, a later read shows them"
        ),
    ] = False,
) -> CommentPublic:
    factory = request.app.state.session_factory

    def load() -> tuple[CommentPublic, bool]:
        # A short session per look, so a waiting request holds no database connection; a
        # reader's, so that on SQLite it never waits behind a writer.
        with read_only(factory, site) as session:
            comment = get_comment(session, comment_id)
            public = comment_public(comment, report_tally(session, comment_id))
            return public, comment.status != CommentStatus.PENDING.value

    public, decided = await run_in_threadpool(load)
    deadline = time.monotonic() + wait
    while not decided and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        public, decided = await run_in_threadpool(load)
    if explain and any(spans_pending(evidence) for evidence in public.evidence.values()):
        # Spans are computed for the comments people read (rejected, escalated) right after
        # the decision; an approved comment's when someone asks for them: here. They are
        # "pending" in this answer and filled in a moment later.
        await run_in_threadpool(
            ask_explain, conn=redis_conn, settings=settings, site=site, comment_id=comment_id
        )
    return public
