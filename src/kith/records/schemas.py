"""Field types shared by the CRM objects' schemas."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from kith.core.validate import check_storable, check_timezone, normalise_email

ShortText = Annotated[str, Field(max_length=200)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Url = Annotated[str, Field(max_length=2000, pattern=r"^https?://\S+$")]
Email = Annotated[str, Field(max_length=320), AfterValidator(normalise_email)]
Phone = Annotated[str, Field(max_length=50, pattern=r"^[0-9+()./ \-x#*]{3,50}$")]
Timezone = Annotated[str, Field(max_length=64), AfterValidator(check_timezone)]
Language = Annotated[str, Field(max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s,][^,]*$")]
Tags = Annotated[list[Tag], Field(max_length=100)]
Notes = Annotated[str, Field(max_length=100_000)]
RecordId = Annotated[str, Field(min_length=1, max_length=40)]
def _cents(v: Decimal) -> Decimal:
    return v.quantize(Decimal("0.01"))


Amount = Annotated[Decimal, Field(ge=0, le=Decimal("1e13"), decimal_places=2, allow_inf_nan=False),
                   AfterValidator(_cents)]
Metadata = Annotated[dict[str, Any], Field(description="A JSON object; merged on PATCH (RFC 7386).")]
CustomFieldValues = Annotated[dict[str, Any], Field(description=(
    "Values of the org's custom fields, `{\"<name>\": value}` (`GET /api/v1/custom-fields` lists the "
    "names and types): text and url strings, numbers, `YYYY-MM-DD` dates, booleans, emails, a select "
    "option, or a list of multi_select options. Each is validated against its field (422 names "
    "`custom_fields.<name>`; an unknown name is refused). PATCH merges key by key; null removes a key."))]


class Strict(BaseModel):
    """Input models refuse unknown fields, trim strings, and refuse text or numbers no backend can
    store (NUL, lone surrogates, NaN; see ``check_storable``) with a 422 naming the field."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return check_storable(value)


def clean_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in tags))
