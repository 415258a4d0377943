"""The webhook delivery log (admin): every delivery with its attempts; redelivery."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from moderation import webhooks
from moderation.api.deps import AdminDep, RedisDep, SessionDep, SettingsDep
from moderation.api.schemas import ErrorBody, WebhookDeliveryPublic, delivery_public

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.get(
    "/deliveries",
    response_model=list[WebhookDeliveryPublic],
    summary="Deliveries to the publisher, newest first, with every attempt",
)
def read_deliveries(
    session: SessionDep,
    _: AdminDep,
    status: Literal["pending", "delivered", "failed"] | None = None,
    comment_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[WebhookDeliveryPublic]:
    rows = webhooks.list_deliveries(session, status=status, comment_id=comment_id, limit=limit)
    return [delivery_public(d) for d in rows]


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=WebhookDeliveryPublic,
    responses={404: {"model": ErrorBody}},
    summary="Send a delivery again (same id, same body)",
)
def redeliver_delivery(
    delivery_id: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    settings: SettingsDep,
    redis_conn: RedisDep,
    _: AdminDep,
) -> WebhookDeliveryPublic:
    delivery = webhooks.redeliver(
        session=session, conn=redis_conn, settings=settings, delivery_id=delivery_id
    )
    return delivery_public(delivery)
