"""What every request and response shape shares: strict integers, the two base models, problem details."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

from tessera.limits import ID_LIMIT, U16_LIMIT, U32_LIMIT

# Strict: JSON true is not 1 and "5" is not 5; an amount is an integer or the request is refused.
U63 = Annotated[int, Strict(), Field(ge=0, lt=ID_LIMIT)]
Id = Annotated[int, Strict(), Field(ge=1, lt=ID_LIMIT)]
U32 = Annotated[int, Strict(), Field(ge=0, lt=U32_LIMIT)]
U16 = Annotated[int, Strict(), Field(ge=0, lt=U16_LIMIT)]
LedgerId = Annotated[int, Strict(), Field(ge=1, lt=U32_LIMIT)]
PrincipalId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^p_[0-9a-f]{16}$")]


def batch_field(most: int) -> Any:
    """A request's batch list: its bounds are documented here and counted by ``limits.check_batch_size``.

    Pydantic does not count it, so that a batch too long is the same 422 ``batch_size``
    whether it came as JSON, as packed records or through the domain's own call.
    """
    return Field(json_schema_extra={"maxItems": most, "minItems": 1})


# What a response reads off a record where the record's own type is not JSON's; the schema
# stays that of the annotated type. A record's enums (StrEnum) and tuples need nothing.
SortedStrs = Annotated[list[str], BeforeValidator(sorted)]
SortedInts = Annotated[list[int], BeforeValidator(sorted)]
IsoDate = Annotated[str, BeforeValidator(dt.date.isoformat)]


def vars_of(record: object) -> dict[str, Any]:
    """A slotted dataclass's fields, by name: for a response that adds a field or two of its own."""
    return {name: getattr(record, name) for name in getattr(record, "__slots__", ())}


class StrictModel(BaseModel):
    """A request: no field the schema does not name, and frozen once checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FromRecord(BaseModel):
    """A response read straight off a domain record's attributes (and properties) of the same names."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, record: object) -> Self:
        return cls.model_validate(record)


class Problem(BaseModel):
    """RFC 9457 problem details, plus Tessera's stable ``code`` and the ``field`` at fault."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    instance: str | None = None
