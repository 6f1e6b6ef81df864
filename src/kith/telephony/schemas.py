"""The provider-neutral call body of ``POST /hooks/telephony``, and the answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kith.records.schemas import Notes, Strict, Url

Number = Annotated[str, Field(min_length=3, max_length=50, description=(
    "A phone number written internationally: `+15550102030` (E.164) or with spaces/dashes/`00`."))]


class CallIn(Strict):
    """Unknown keys are ignored (providers add their own); every listed key is checked (and, as in
    every input model, text no backend can store is refused)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)

    call_id: Annotated[str, Field(min_length=1, max_length=200, description=(
        "The provider's id of the call: a call is logged once, however often it is sent."))]
    direction: Literal["inbound", "outbound"]
    from_: Number = Field(alias="from")
    to: Number
    started_at: AwareDatetime
    duration_seconds: Annotated[int, Field(ge=0, le=7 * 24 * 3600)] = 0
    status: Literal["answered", "missed", "voicemail"]
    recording_url: Url | None = None
    agent_email: Annotated[str, Field(max_length=320)] | None = None
    agent_user_id: Annotated[str, Field(max_length=40)] | None = None
    notes: Notes | None = None


class CallLogged(BaseModel):
    call_id: str
    activity_id: str
    contact_id: str | None
    matched: bool = Field(description="A contact has the caller's (inbound) or callee's (outbound) number.")
    duplicate: bool = Field(description="This call id was received before; nothing new was written.")


class SecretOut(BaseModel):
    secret: str = Field(description="Shown only here: sign inbound telephony requests with it.")
    created_at: datetime
    url: str = Field(description="Where the provider posts calls (relative to this server).")
