"""``POST /v1/webhooks/<provider>``: a forge's or an incident tool's own deliveries, turned into
ledger events (query/api/webhooks/ maps them; docs/webhooks.md says how).

The signature (or token) is checked on the raw body before anything parses it; a bad or missing
one is 401 and nothing is stored. These routes take no API token: the provider's signature is
their authentication, so a provider with no secret configured answers 404 (it is not there)
rather than ever accept an unsigned delivery. The events go to Kafka as ``POST /v1/events``
sends them, with ids derived from the delivery id, so a redelivery is the same event and the
ledger stores it once. An event the ledger cannot take (an incident on a service the mapping
file does not know) is sent anyway, to be kept as a dead letter with the reason.
"""

from __future__ import annotations

import logging
import time
from types import ModuleType
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from provenance_ledger.ledger import origin
from provenance_ledger.producers.ai_detect import RulesError, load_rules
from provenance_ledger.query.api.deps import State
from provenance_ledger.query.api.errors import ApiError
from provenance_ledger.query.api.state import AppState
from provenance_ledger.query.api.webhooks import alertmanager, github, gitlab, incidentio, pagerduty
from provenance_ledger.query.api.webhooks.core import (
    BadSecret,
    BadSignature,
    Context,
    PayloadProblem,
    envelopes,
)
from provenance_ledger.query.api.webhooks.mapping import MappingError, load_mapping
from provenance_ledger.schemas import jsonsafe
from provenance_ledger.schemas.codec import DecodedEvent, DecodeError, validate_event
from provenance_ledger.schemas.events import CloudEvent

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])

PROVIDERS: dict[str, tuple[ModuleType, str]] = {
    "github": (github, "GitHub (X-Hub-Signature-256)"),
    "gitlab": (gitlab, "GitLab (X-Gitlab-Token)"),
    "pagerduty": (pagerduty, "PagerDuty v3 (X-PagerDuty-Signature)"),
    "incident-io": (incidentio, "incident.io (webhook-signature, Svix)"),
    "alertmanager": (alertmanager, "Prometheus Alertmanager (Authorization: Bearer)"),
}
_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"type": "object"}}},
    "description": "the provider's own payload, exactly as it sent it (the signature covers "
    "these bytes)",
}


class DeadLettered(BaseModel):
    id: str
    reason: str


class WebhookAnswer(BaseModel):
    accepted: list[str]
    """Ids of the events produced that the ledger stores (once, however often delivered)."""
    dead_letters: list[DeadLettered] = []
    """Events produced that the ledger keeps as dead letters, and why."""
    ignored: str | None = None
    """Why the delivery means no event, when it means none."""


def secret_variable(provider: str) -> str:
    return f"PROVLEDGER_WEBHOOK_{provider.upper().replace('-', '_')}_SECRET"


def _register(provider: str, module: ModuleType, title: str) -> None:
    async def receive(state: State, request: Request) -> WebhookAnswer:
        secret = state.settings.secrets.webhook(provider)
        if secret is None:
            off = f"the {provider} webhook is off: {secret_variable(provider)} is unset"
            raise ApiError(404, off)
        body = await request.body()
        headers = {name.lower(): value for name, value in request.headers.items()}
        return await run_in_threadpool(
            _receive, state, provider, module, headers, body, secret.get_secret_value()
        )

    receive.__name__ = f"webhook_{provider.replace('-', '_')}"
    router.add_api_route(
        f"/v1/webhooks/{provider}",
        receive,
        methods=["POST"],
        status_code=202,
        response_model=WebhookAnswer,
        summary=f"Receive {title} deliveries",
        description=f"Signature checked first: 401 when bad or missing, 404 while "
        f"{secret_variable(provider)} is unset; 202 when stored or ignored.",
        openapi_extra={"requestBody": _BODY},
    )


for _provider, (_module, _title) in PROVIDERS.items():
    _register(_provider, _module, _title)


def _receive(
    state: AppState,
    provider: str,
    module: ModuleType,
    headers: dict[str, str],
    body: bytes,
    secret: str,
) -> WebhookAnswer:
    try:
        module.verify(headers, body, secret, time.time())
    except BadSignature as exc:
        log.warning("%s webhook refused: %s", provider, exc)
        raise ApiError(401, f"refused: {exc}") from None
    except BadSecret as exc:
        raise ApiError(503, str(exc)) from None
    try:
        payload = jsonsafe.loads(body, "the webhook body")
        delivery = module.delivery(headers, payload)
        settings = state.settings
        context = Context(
            load_mapping(settings.api.webhook_mapping), load_rules(settings.producer.ai_rules)
        )
        outcome = module.map_payload(payload, delivery, context)
        built = [_decoded(envelope) for envelope in envelopes(outcome, delivery)]
    except jsonsafe.JsonProblem as exc:
        raise ApiError(400, f"{exc.detail} (send the webhook as application/json)") from None
    except PayloadProblem as exc:
        raise ApiError(400, f"the {provider} delivery cannot be read: {exc}") from None
    except (MappingError, RulesError) as exc:
        raise ApiError(503, str(exc)) from None
    if outcome.ignored is not None:
        log.info("%s webhook %s ignored: %s", provider, delivery.id, outcome.ignored)
        return WebhookAnswer(accepted=[], ignored=outcome.ignored)
    try:
        state.publish([decoded for decoded, _ in built], origin.webhook(provider))
    except Exception as exc:
        raise ApiError(503, f"could not produce to Kafka: {exc}") from exc
    dead = [DeadLettered(id=d.event.id, reason=why) for d, why in built if why is not None]
    for letter in dead:
        log.warning("%s webhook %s: a dead letter: %s", provider, letter.id, letter.reason)
    return WebhookAnswer(
        accepted=[decoded.event.id for decoded, why in built if why is None], dead_letters=dead
    )


def _decoded(envelope: dict[str, Any]) -> tuple[DecodedEvent, str | None]:
    """The event, and why the ledger will refuse it (None when it will store it). A refused
    one still goes to Kafka, so the ledger keeps it as a dead letter with that reason."""
    result = validate_event(envelope)
    if not isinstance(result, DecodeError):
        return result, None
    try:
        event = CloudEvent.model_validate(envelope)
    except ValidationError as exc:
        raise PayloadProblem(f"its event cannot be built: {result.detail}") from exc
    return DecodedEvent(event, None), f"{result.code}: {result.detail}"
