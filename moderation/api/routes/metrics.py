"""``/metrics``: the deployment's Prometheus metrics (``moderation.metrics``), and the
middleware that counts the API's requests.

No key is needed for a request that came in on a loopback address (only this machine can
send one; ``MODERATION_METRICS_KEY_REQUIRED`` asks for one anyway, as behind a reverse
proxy on the same machine); otherwise an admin key (whose scrape shows its own site's series
and the deployment's queues and workers) or an operator key (every site). Not in the
OpenAPI document: it is Prometheus's text format, not JSON.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Mapping

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation import metrics, status
from moderation.api.deps import authenticate
from moderation.auth import Role

router = APIRouter(tags=["health"])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _scraper_site(request: Request) -> str | None:
    """None: every site's series; else the one site whose series an admin key may see."""
    server = request.scope.get("server") or ("", None)
    local = is_loopback(str(server[0]))  # the address the request came in on
    if local and not request.app.state.settings.metrics_key_required:
        return None
    principal = authenticate(request, None)
    if principal.role is Role.OPERATOR:
        return None
    if principal.role is not Role.ADMIN:
        raise HTTPException(
            403, f"the {principal.role.value} role cannot read metrics; needs: admin, operator"
        )
    return principal.site


Gauge = tuple[metrics.Metric, Mapping[str, str], float]
WORKER_STATES = ("busy", "idle", "starting", "failed", "suspended")


def gauges(snapshot: status.Status) -> list[Gauge]:
    """The scrape-time gauges from a ``moderation status`` snapshot."""
    found: list[Gauge] = []
    for q in snapshot.queues:
        found.append((metrics.QUEUE_DEPTH, {"queue": q.name}, q.queued))
        found.append((metrics.QUEUE_OLDEST, {"queue": q.name}, q.oldest_queued_seconds or 0.0))
    for kind in ("scoring", "webhooks"):
        states = Counter(w.state for w in snapshot.workers if w.kind == kind)
        for state in WORKER_STATES:
            found.append((metrics.WORKERS, {"kind": kind, "state": state}, states[state]))
        found.append((metrics.WORKERS_BUSY, {"kind": kind}, states["busy"]))
    for s in snapshot.sites:
        site = {"site": s.site}
        found += [
            (metrics.PENDING, site, s.pending),
            (metrics.PENDING_OLDEST, site, s.oldest_pending_seconds or 0.0),
            (metrics.ESCALATIONS, site, s.escalated_open + s.escalated_claimed),
            (metrics.ESCALATION_OLDEST, site, s.oldest_open_escalation_seconds or 0.0),
            (metrics.WEBHOOK_BACKLOG, site | {"status": "pending"}, s.webhooks_pending),
            (metrics.WEBHOOK_BACKLOG, site | {"status": "failed"}, s.webhooks_failed),
        ]
    return found


def _gauges(request: Request) -> list[Gauge]:
    state = request.app.state
    snapshot = status.gather(
        conn=state.redis, session_factory=state.session_factory, settings=state.settings
    )
    return gauges(snapshot)


@router.get("/metrics", include_in_schema=False)
async def scrape(request: Request) -> Response:
    site = _scraper_site(request)
    state = request.app.state

    def read() -> bytes:
        return metrics.exposition(
            state.redis, state.settings.queue, lambda: _gauges(request), site=site
        )

    return Response(await run_in_threadpool(read), media_type=CONTENT_TYPE_LATEST)


class RequestCounter:
    """Counts each answered request by method, route template (``/v1/comments/{comment_id}``,
    never the ids) and status; paths that match no route count as route ``unmatched``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status_code = 500

        async def counting_send(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.inc(
                metrics.HTTP_REQUESTS,
                method=str(scope["method"]),
                route=str(template),
                status=str(status_code),
            )
