"""Liveness (``/healthz``) and readiness (``/readyz``).

Ready means comments will be decided: the database, Redis and the rules file are usable,
and at least one worker has loaded its scorers and rules (a live heartbeat in Redis, see
``moderation.heartbeats``). ``failing`` names what is not; ``warnings`` says what does not
stop decisions but needs a look (a rules file that was refused while the last good version
keeps deciding, a worker that failed to load its models).

``/readyz?only=database,rules`` judges readiness on the named checks alone (every check
still runs and is reported). A load balancer routing publishers' requests wants that: an
API process that can store comments should take them even while no worker is up (they
wait, pending, and are decided once one is), rather than leave the pool with every other
API process and turn the publishers' posts away.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from moderation import heartbeats
from moderation.api.errors import ApiError
from moderation.db.session import READ_ONLY
from moderation.exceptions import RulesError

router = APIRouter(tags=["health"])

CHECKS = ("database", "redis", "rules", "workers", "perspective")
"""What ``/readyz`` checks (``perspective`` only where the Perspective API is enabled)."""
_CHECK = f"({'|'.join(CHECKS)})"
ONLY_PATTERN = rf"^ *{_CHECK} *(, *{_CHECK} *)*$"


class NotReady(Exception):
    def __init__(self, message: str, detail: dict[str, Any]):
        super().__init__(message)
        self.detail = detail


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _worker_label(beat: heartbeats.Heartbeat) -> str:
    return f"worker {beat.name} (pid {beat.pid} on {beat.host})"


def _workers(state: Any) -> dict[str, Any]:
    settings = state.settings
    beats = heartbeats.live(state.redis, queue=settings.queue)
    ready = heartbeats.ready_workers(beats, settings.queue)
    detail: dict[str, Any] = {
        "ready": len(ready),
        "heartbeat_ttl_seconds": settings.worker_heartbeat_ttl_seconds,
        "workers": [b.public() for b in beats],
    }
    if ready:
        return detail
    failed = [b for b in beats if b.state is heartbeats.WorkerState.FAILED]
    if failed:
        why = "; ".join(f"{_worker_label(b)}: {b.error}" for b in failed)
    elif beats:
        why = f"{len(beats)} live worker(s), none serving queue {settings.queue!r}"
    else:
        why = (
            f"no worker has sent a heartbeat in the last "
            f"{settings.worker_heartbeat_ttl_seconds:g} s (start one: moderation worker)"
        )
    raise NotReady(f"no worker has loaded its scorers: {why}", detail)


@router.get(
    "/readyz",
    summary="Comments will be decided: database, Redis, rules file and a worker with its "
    "scorers loaded",
)
async def readyz(
    request: Request,
    only: str | None = Query(
        None,
        description="Comma-separated checks that decide readiness (the others are still "
        f"reported): any of {', '.join(CHECKS)}. A load balancer in front of the API wants "
        "`database,rules`: comments are accepted and wait while no worker is up.",
        # Documented, not enforced by FastAPI: _judged's 422 names the checks there are.
        json_schema_extra={"pattern": ONLY_PATTERN},
    ),
) -> JSONResponse:
    state = request.app.state
    judged = _judged(only)
    checks: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    not_causes: set[str] = set()

    def database() -> dict[str, Any]:
        # Read-only: on SQLite a plain BEGIN, which never waits behind a writer's lock.
        with state.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            conn.execute(text("SELECT 1"))
        return {}

    def redis_ping() -> dict[str, Any]:
        state.redis.ping()
        return {}

    def rules() -> dict[str, Any]:
        return {"version": str(state.rulebook.current().version)}

    def workers() -> dict[str, Any]:
        return _workers(state)

    for name, check in (
        ("database", database),
        ("redis", redis_ping),
        ("rules", rules),
        ("workers", workers),
    ):
        if name == "workers" and not checks["redis"]["ok"]:
            # Not a cause of its own: without Redis no heartbeat can be read.
            checks[name] = {"ok": False, "error": "unknown while Redis is unreachable"}
            not_causes.add(name)
            continue
        try:
            detail = await run_in_threadpool(check)
            checks[name] = {"ok": True} | detail
        except RulesError as exc:
            checks[name] = {"ok": False, "error": exc.errors}
        except NotReady as exc:
            checks[name] = {"ok": False, "error": str(exc)} | exc.detail
        except Exception as exc:  # noqa: BLE001 - report whatever the dependency says
            checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    analyzer = getattr(state, "analyzer", None)
    if analyzer is not None:  # the Perspective API's models, loaded in the background
        checks["perspective"] = (
            {"ok": True}
            if analyzer.ready
            else {"ok": False, "error": analyzer.error or "models loading"}
        )
    failing = [
        n
        for n, c in checks.items()
        if not c["ok"] and n not in not_causes and (judged is None or n in judged)
    ]
    rulebook = state.rulebook
    if rulebook.last_errors and checks["rules"]["ok"]:
        checks["rules"]["refused_reload"] = rulebook.last_errors
        checks["rules"]["refused_at"] = (
            rulebook.refused_at.isoformat() if rulebook.refused_at else None
        )
        warnings.append(
            f"rules: {rulebook.path} was refused ({len(rulebook.last_errors)} problem(s): "
            f"{rulebook.last_errors[0]}); version {checks['rules']['version'][:12]} keeps "
            "deciding"
        )
    for beat in checks["workers"].get("workers", []):
        if beat["state"] == heartbeats.WorkerState.FAILED.value and checks["workers"]["ok"]:
            warnings.append(
                f"workers: worker {beat['name']} (pid {beat['pid']} on {beat['host']}) takes "
                f"no jobs: {beat['error']}"
            )
    body = {
        "status": "ok" if not failing else "unavailable",
        **({"judged_on": sorted(judged)} if judged is not None else {}),
        "failing": failing,
        "warnings": warnings,
        "checks": checks,
    }
    return JSONResponse(body, status_code=503 if failing else 200)


def _judged(only: str | None) -> set[str] | None:
    """The checks named by ``?only=`` (None: all of them)."""
    if only is None:
        return None
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in CHECKS]
    if unknown or not names:
        what = f"{', '.join(repr(n) for n in unknown)} is not a check" if unknown else "empty"
        message = f"only: {what}; name one or more of {', '.join(CHECKS)}, comma-separated"
        raise ApiError(
            422,
            "validation_error",
            message,
            [{"field": "only", "message": message, "type": "value_error"}],
        )
    return set(names)
