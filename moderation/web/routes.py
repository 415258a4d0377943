"""The /moderate page: sign-in, the queue (server-rendered shell, JSON for the script),
and the moderator's actions. Only moderators and admins may sign in.

Every response carries a strict Content-Security-Policy (``script-src 'self'``, no inline
script or style), and comment text reaches the page only as text: Jinja autoescapes and
the script builds DOM nodes with ``textContent``.

Every state-changing request needs a CSRF token bound to the session (a form field for the
sign-in and sign-out forms, the ``X-CSRF-Token`` header for the script's calls), on top of
``SameSite=Strict`` cookies; sessions live server-side (``session.SessionStore``), so
signing out ends them for every copy of the cookie. When Redis, which holds them, does not
answer, the page says so with a 503 and ``Retry-After``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel
from sqlalchemy.orm import Session

from moderation import authors, reasons, reviews
from moderation.api.deps import RedisDep, SettingsDep
from moderation.api.routes.audit import read_audit_page
from moderation.api.routes.authors import set_author_status
from moderation.api.routes.decisions import ReasonCodePublic, check_reason_code, decision_public
from moderation.api.routes.reviews import bulk_decide
from moderation.api.schemas import (
    AuthorNoteCreate,
    AuthorStatusPut,
    BulkDecisionCreate,
    ClaimPublic,
    Identifier,
    ModeratorDecisionCreate,
    ModeratorQueuePublic,
    QueuedArticlePublic,
    RecentDecisionPublic,
    RecentDecisionsPublic,
    ReviewCounters,
    ReviewPublic,
    UndoPublic,
    author_detail_public,
    author_note_public,
)
from moderation.auth import KeyRing, Role
from moderation.db.scoping import site_session
from moderation.db.session import READ_ONLY
from moderation.settings import Settings
from moderation.sites import SiteDirectory
from moderation.web import events
from moderation.web.session import (
    PRE_SESSION_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    SessionSigner,
    SessionStore,
    SessionStoreUnavailable,
    WebSession,
    load_or_generate_secret,
)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
QUEUE_LIMIT = 100
STORE_RETRY_AFTER_SECONDS = 5

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)

router = APIRouter(prefix="/moderate", tags=["moderate page"], include_in_schema=False)


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def get_signer(request: Request) -> SessionSigner:
    state = request.app.state
    signer: SessionSigner | None = getattr(state, "session_signer", None)
    if signer is None:
        settings: Settings = state.settings
        secret = settings.session_secret or load_or_generate_secret(settings.var_dir)
        signer = SessionSigner(secret)
        state.session_signer = signer
    return signer


SignerDep = Annotated[SessionSigner, Depends(get_signer)]


def get_store(redis_conn: RedisDep) -> SessionStore:
    return SessionStore(redis_conn)


StoreDep = Annotated[SessionStore, Depends(get_store)]


def store_unavailable(exc: SessionStoreUnavailable) -> HTTPException:
    return HTTPException(
        503,
        f"moderator sessions cannot be checked: Redis did not answer ({exc}); "
        f"retry in {STORE_RETRY_AFTER_SECONDS} s",
        headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)},
    )


def current_session(request: Request, signer: SignerDep, store: StoreDep) -> WebSession | None:
    keyring: KeyRing = request.app.state.keyring
    try:
        return signer.read(request.cookies.get(SESSION_COOKIE), keyring, store)
    except SessionStoreUnavailable as exc:
        raise store_unavailable(exc) from exc


def require_session(
    request: Request, signer: SignerDep, web: Annotated[WebSession | None, Depends(current_session)]
) -> WebSession:
    """For the script's calls: a signed-in moderator and, on POST, a valid CSRF header."""
    if web is None:
        raise HTTPException(401, "not signed in; sign in at /moderate")
    if request.method != "GET" and not signer.check_csrf(
        web.nonce, request.headers.get("x-csrf-token")
    ):
        raise HTTPException(403, "missing or invalid CSRF token (X-CSRF-Token header)")
    return web


WebSessionDep = Annotated[WebSession, Depends(require_session)]


def page_session(request: Request, web: WebSessionDep) -> Iterator[Session]:
    """A database session of the signed-in moderator's site."""
    with site_session(request.app.state.session_factory, web.site) as session:
        yield session


SessionDep = Annotated[Session, Depends(page_session)]


def _render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(**context)
    return _secured(HTMLResponse(html, status_code=status_code))  # type: ignore[return-value]


def _secure_cookie(request: Request) -> bool:
    return request.url.scheme == "https"


def _sign_in_page(
    request: Request, signer: SessionSigner, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    nonce = request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(16)
    response = _render(
        "sign_in.html", status_code, csrf_token=signer.csrf_token("signin:" + nonce), error=error
    )
    response.set_cookie(
        PRE_SESSION_COOKIE,
        nonce,
        max_age=3600,
        path="/moderate",
        httponly=True,
        samesite="strict",
        secure=_secure_cookie(request),
    )
    return response


@router.get("", response_class=HTMLResponse)
def read_moderate_page(
    request: Request,
    signer: SignerDep,
    web: Annotated[WebSession | None, Depends(current_session)],
) -> Response:
    if web is None:
        return _sign_in_page(request, signer)
    return _render(
        "queue.html",
        csrf_token=signer.csrf_token(web.nonce),
        moderator=web.principal.name,
        role=web.principal.role.value,
        site=web.site,
        reasons=reasons.REASONS,
        undo_seconds=request.app.state.settings.undo_seconds,
    )


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    signer: SignerDep,
    store: StoreDep,
    previous: Annotated[WebSession | None, Depends(current_session)],
    key: Annotated[str, Form(max_length=500)] = "",
    site: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    nonce = request.cookies.get(PRE_SESSION_COOKIE)
    if not nonce or not signer.check_csrf("signin:" + nonce, csrf_token):
        return _sign_in_page(
            request, signer, error="The form expired; please sign in again.", status_code=403
        )
    keyring: KeyRing = request.app.state.keyring
    principal = keyring.authenticate(key.strip()) if key.strip() else None
    if principal is None:
        return _sign_in_page(request, signer, error="That key is not valid.", status_code=401)
    if not principal.can(Role.MODERATOR):
        return _sign_in_page(
            request, signer, error="That key is not a moderator's key.", status_code=403
        )
    directory: SiteDirectory = request.app.state.sites
    chosen = site.strip()
    if principal.site is not None:
        if chosen and chosen != principal.site:
            return _sign_in_page(
                request, signer, error=f"That key is not a key of site {chosen!r}.",
                status_code=403,
            )  # fmt: skip
        chosen = principal.site
    elif not chosen:
        return _sign_in_page(
            request, signer, status_code=400,
            error="An operator's key moderates one site at a time: name the site.",
        )  # fmt: skip
    if directory.site(chosen) is None:
        return _sign_in_page(
            request, signer, error=f"There is no site {chosen!r}.", status_code=404
        )
    # A new session id every time: whatever id the browser held before is not reused.
    try:
        if previous is not None:
            store.revoke(previous.nonce)
        session_id = store.create(principal)
    except SessionStoreUnavailable as exc:
        raise store_unavailable(exc) from exc
    response = _secured(RedirectResponse("/moderate", status_code=303))
    response.set_cookie(
        SESSION_COOKIE,
        signer.issue(principal, key.strip(), session_id, chosen),
        max_age=SESSION_MAX_AGE,
        path="/moderate",
        httponly=True,
        samesite="strict",
        secure=_secure_cookie(request),
    )
    response.delete_cookie(PRE_SESSION_COOKIE, path="/moderate")
    return response


@router.post("/sign-out")
def sign_out(
    request: Request,
    signer: SignerDep,
    store: StoreDep,
    web: Annotated[WebSession | None, Depends(current_session)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if web is not None and not signer.check_csrf(web.nonce, csrf_token):
        raise HTTPException(403, "missing or invalid CSRF token")
    response = _secured(RedirectResponse("/moderate", status_code=303))
    if web is None:
        # No session came with the request (a cross-site post brings no cookie): there is
        # nothing to end, and deleting the browser's cookie would sign the moderator out.
        return response
    try:
        store.revoke(web.nonce)  # every copy of the cookie is signed out with this one
    except SessionStoreUnavailable as exc:
        raise store_unavailable(exc) from exc
    response.delete_cookie(SESSION_COOKIE, path="/moderate", httponly=True, samesite="strict")
    return response


@router.get("/queue.json")
def read_queue(
    session: SessionDep,
    web: WebSessionDep,
    article_id: str | None = None,
    sort: reviews.Sort = reviews.Sort.PRIORITY,
    q: Annotated[str | None, Query(max_length=reviews.SEARCH_MAX_CHARS)] = None,
) -> Response:
    """The first open reviews plus every one this moderator holds, with counters and the
    article filter; ``q`` searches (a comment, author or article id, or words in the text)."""
    # The page polls every few seconds: on SQLite, never wait for (or hold) the write lock.
    session.connection(execution_options={READ_ONLY: True})
    items = reviews.moderator_queue(
        session,
        moderator=web.principal.name,
        sort=sort,
        article_id=article_id or None,
        limit=QUEUE_LIMIT,
        search=q or None,
    )
    body = ModeratorQueuePublic(
        moderator=web.principal.name,
        items=[ReviewPublic.model_validate(item, from_attributes=True) for item in items],
        counters=ReviewCounters.model_validate(reviews.counters(session), from_attributes=True),
        articles=[
            QueuedArticlePublic.model_validate(a, from_attributes=True)
            for a in reviews.articles_in_queue(session)
        ],
    )
    return _json(body)


@router.post("/reviews/{comment_id}/claim")
def claim_from_page(
    comment_id: str, session: SessionDep, settings: SettingsDep, web: WebSessionDep
) -> Response:
    row = reviews.claim(
        session=session,
        comment_id=comment_id,
        moderator=web.principal.name,
        lease_seconds=settings.review_lease_seconds,
    )
    return _json(ClaimPublic.model_validate(row, from_attributes=True))


@router.post("/reviews/{comment_id}/release")
def release_from_page(comment_id: str, session: SessionDep, web: WebSessionDep) -> Response:
    reviews.release(session=session, comment_id=comment_id, moderator=web.principal.name)
    return _secured(Response(status_code=204))


@router.post("/reviews/{comment_id}/decision")
def decide_from_page(
    comment_id: str,
    decision_in: ModeratorDecisionCreate,
    session: SessionDep,
    settings: SettingsDep,
    redis_conn: RedisDep,
    web: WebSessionDep,
) -> Response:
    check_reason_code(decision_in)
    decision = reviews.apply_moderator_decision(
        session=session,
        conn=redis_conn,
        settings=settings,
        comment_id=comment_id,
        moderator=web.principal.name,
        action=decision_in.action,
        reason_code=decision_in.reason_code,
        reason_text=decision_in.reason_text,
        note=decision_in.note,
    )
    return _json(decision_public(decision), 201)


@router.post("/reviews/bulk-decision")
def bulk_decide_from_page(
    bulk_in: BulkDecisionCreate,
    session: SessionDep,
    settings: SettingsDep,
    redis_conn: RedisDep,
    web: WebSessionDep,
) -> Response:
    """The selection's (or an author's open reviews') decision, each comment on its own."""
    body = bulk_decide(
        bulk_in=bulk_in,
        session=session,
        settings=settings,
        conn=redis_conn,
        moderator=web.principal.name,
    )
    return _json(body)


@router.post("/decisions/{decision_id}/undo")
def undo_from_page(
    decision_id: int, session: SessionDep, settings: SettingsDep, web: WebSessionDep
) -> Response:
    """Undo one of this moderator's decisions within the undo window (``u``, or Undo)."""
    undone = reviews.undo_decision(
        session=session,
        decision_id=decision_id,
        moderator=web.principal.name,
        window_seconds=settings.undo_seconds,
    )
    return _json(
        UndoPublic(
            comment_id=undone.comment_id,
            undone_decision_id=undone.decision_id,
            status=undone.status,
        )
    )


@router.get("/decisions.json")
def read_my_decisions(session: SessionDep, settings: SettingsDep, web: WebSessionDep) -> Response:
    """My recent decisions: this moderator's last 20, each saying whether it can be undone."""
    session.connection(execution_options={READ_ONLY: True})
    rows = reviews.recent_decisions(
        session, moderator=web.principal.name, window_seconds=settings.undo_seconds, limit=20
    )
    session.rollback()
    return _json(
        RecentDecisionsPublic(
            items=[RecentDecisionPublic.model_validate(r, from_attributes=True) for r in rows],
            undo_seconds=settings.undo_seconds,
        )
    )


@router.get("/events")
def read_events(request: Request, web: WebSessionDep) -> Response:
    """Server-sent events: new escalations and other moderators' decisions and claims
    (``moderation.web.events``); the page polls as well, so a lost stream loses nothing."""
    body = events.stream(
        session_factory=partial(site_session, request.app.state.session_factory, web.site),
        moderator=web.principal.name,
        last_event_id=request.headers.get("last-event-id"),
        disconnected=request.is_disconnected,
    )
    response = StreamingResponse(body, media_type="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"  # a proxy must not hold the frames back
    return _secured(response)


class PageReasons(BaseModel):
    reasons: list[ReasonCodePublic]
    undo_seconds: float


@router.get("/reasons.json")
def read_reasons_for_page(settings: SettingsDep, web: WebSessionDep) -> Response:
    """The reason codes (keys 1-9 pick one for the next reject) and the undo window."""
    return _json(
        PageReasons(
            reasons=[ReasonCodePublic(**r.public()) for r in reasons.REASONS],
            undo_seconds=settings.undo_seconds,
        )
    )


# --- the author panel and the history --------------------------------------------------------


@router.get("/authors/{author_id}.json")
def read_author_for_page(
    author_id: Identifier, session: SessionDep, web: WebSessionDep
) -> Response:
    """The author panel (``p``): what ``GET /v1/authors/{id}`` answers."""
    session.connection(execution_options={READ_ONLY: True})
    body = author_detail_public(authors.read_author(session, author_id))
    session.rollback()
    return _json(body)


@router.post("/authors/{author_id}/status")
def set_author_status_from_page(
    author_id: Identifier,
    status_in: AuthorStatusPut,
    session: SessionDep,
    settings: SettingsDep,
    redis_conn: RedisDep,
    web: WebSessionDep,
) -> Response:
    """The panel's status controls, checked and applied as ``PUT /v1/authors/{id}/status``."""
    body = set_author_status(
        author_id=author_id,
        status_in=status_in,
        session=session,
        settings=settings,
        conn=redis_conn,
        moderator=web.principal.name,
    )
    return _json(body)


@router.post("/authors/{author_id}/notes")
def create_author_note_from_page(
    author_id: Identifier, note_in: AuthorNoteCreate, session: SessionDep, web: WebSessionDep
) -> Response:
    note = authors.add_note(
        session=session, author_id=author_id, moderator=web.principal.name, text=note_in.text
    )
    return _json(author_note_public(note), 201)


@router.get("/audit.json")
def read_audit_for_page(
    session: SessionDep,
    web: WebSessionDep,
    comment_id: Identifier | None = None,
    author_id: Identifier | None = None,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """A card's or the author panel's History: ``GET /v1/audit``'s first page."""
    session.connection(execution_options={READ_ONLY: True})
    return _json(
        read_audit_page(
            session, comment_id=comment_id, author_id=author_id, cursor=cursor, limit=50
        )
    )


def _json(body: BaseModel, status_code: int = 200) -> Response:
    return _secured(JSONResponse(body.model_dump(mode="json"), status_code))


@router.get("/static/{name}")
def read_static(name: str) -> Response:
    path = STATIC / name
    if "/" in name or path.suffix not in STATIC_TYPES or not path.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    response = FileResponse(path, media_type=STATIC_TYPES[path.suffix])
    response.headers.update({"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})
    return response
