from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from moderation.exceptions import RulesError

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Database, Redis and the rules file are usable")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, dict[str, Any]] = {}

    def database() -> None:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def redis_ping() -> None:
        state.redis.ping()

    def rules() -> str:
        return str(state.rulebook.current().version)

    for name, check in (("database", database), ("redis", redis_ping), ("rules", rules)):
        try:
            detail = await run_in_threadpool(check)
            checks[name] = {"ok": True} | ({"version": detail} if detail else {})
        except RulesError as exc:
            checks[name] = {"ok": False, "error": exc.errors}
        except Exception as exc:  # noqa: BLE001 - report whatever the dependency says
            checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    analyzer = getattr(state, "analyzer", None)
    if analyzer is not None:  # the Perspective API's models, loaded in the background
        checks["perspective"] = (
            {"ok": True}
            if analyzer.ready
            else {"ok": False, "error": analyzer.error or "models loading"}
        )
    failing = [n for n, c in checks.items() if not c["ok"]]
    if state.rulebook.last_errors and "rules" not in failing:
        checks["rules"]["refused_reload"] = state.rulebook.last_errors
    body = {"status": "ok" if not failing else "unavailable", "failing": failing, "checks": checks}
    return JSONResponse(body, status_code=503 if failing else 200)
