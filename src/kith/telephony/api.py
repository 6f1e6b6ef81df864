"""Telephony routes: the signed inbound hook (``POST /hooks/telephony``, outside /api/v1: the
provider authenticates with the org's signature, not an API key) and the admin route that issues
its secret. Thin: parse, call the service, render."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from kith.core.errors import BadRequest, FieldError, ValidationFailed
from kith.http import responses as r
from kith.http.deps import CurrentActor, Uow, storable_parameters
from kith.http.problems import from_validation
from kith.http.routing import WRITE, problems, router
from kith.telephony import service
from kith.telephony.model import SIGNATURE_HEADER
from kith.telephony.schemas import CallIn, CallLogged, SecretOut

api = router("telephony")
hooks = APIRouter(prefix="/hooks", tags=["hooks"], dependencies=[Depends(storable_parameters)])

_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": CallIn.model_json_schema(by_alias=True)}}}}


@api.post("/telephony/secret", response_model=SecretOut, status_code=201, responses=WRITE,
          summary="Create or rotate the telephony signing secret")
async def rotate_secret(actor: CurrentActor, uow: Uow) -> r.JSON:
    """Issue the org's inbound telephony secret (crm-admin), shown only in this answer; a previous
    secret stops working at once. `url` is where the provider posts calls."""
    return r.JSON(await service.rotate_secret(uow, actor), status_code=201)


def _parse(body: bytes) -> CallIn:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("the request body is not valid JSON", errors=[FieldError("body", str(exc))]) from None
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", errors=[FieldError("body", "must be a JSON object")])
    try:
        return CallIn.model_validate(data)
    except ValidationError as exc:
        raise from_validation(RequestValidationError(exc.errors())) from None


@hooks.post("/telephony", response_model=CallLogged, status_code=201,
            responses={200: {"description": "This call id was logged before (`duplicate: true`)", "model": CallLogged},
                       **problems(400, 401, 413, 422)},
            openapi_extra=_BODY, summary="Log a call from a telephony provider")
async def receive_call(
    request: Request, uow: Uow,
    org_id: Annotated[str | None, Query(max_length=40, description="The org the call belongs to.")] = None,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER, description=(
        "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>`"))] = None,
) -> r.JSON:
    """A call (provider-neutral JSON, docs/telephony.md) logged as a `call` activity on the contact
    with the other party's number. Signed with the org's telephony secret (401 when unsigned,
    wrongly signed or older than 5 minutes); idempotent on `call_id` (200 with `duplicate: true`)."""
    body = await request.body()
    org = await service.authenticate(uow, org_id, signature, body)
    out, created = await service.log_call(uow, org, _parse(body))
    return r.JSON(out, status_code=201 if created else 200)
