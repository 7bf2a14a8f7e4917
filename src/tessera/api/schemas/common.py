"""What every request and response shape shares: strict integers, the two base models, problem details."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, WithJsonSchema, model_validator

from tessera.limits import ID_LIMIT, U16_LIMIT, U32_LIMIT
from tessera.times import ns_to_rfc3339, rfc3339_to_ns

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


# --- times: RFC 3339 beside nanoseconds ---------------------------------------------------------


def _rfc3339_or_none(ns: int | None) -> str | None:
    return None if ns is None else ns_to_rfc3339(ns)


# A response's time in words beside its nanoseconds: ``created_at: Rfc3339 = beside("created_at_ns")``
# reads the record's ``created_at_ns`` a second time and writes it as RFC 3339.
Rfc3339 = Annotated[str, BeforeValidator(ns_to_rfc3339)]
Rfc3339OrNone = Annotated[str | None, BeforeValidator(_rfc3339_or_none)]


# A request's time as RFC 3339, read into nanoseconds since 1970 (the ``_ns`` field beside it).
Rfc3339In = Annotated[
    int,
    BeforeValidator(rfc3339_to_ns),
    Field(ge=1, lt=ID_LIMIT),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-12-07T10:00:00Z"]}),
]


def beside(ns_field: str) -> Any:
    """The RFC 3339 field beside ``ns_field``, read from the same attribute or key."""
    return Field(
        validation_alias=ns_field,
        description=f"{ns_field} as an RFC 3339 time in UTC",
        json_schema_extra={"format": "date-time"},
    )


def vars_of(record: object) -> dict[str, Any]:
    """A slotted dataclass's fields, by name: for a response that adds a field or two of its own."""
    return {name: getattr(record, name) for name in getattr(record, "__slots__", ())}


class StrictModel(BaseModel):
    """A request: no field the schema does not name, and frozen once checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TakesTimes(StrictModel):
    """A request whose times come as RFC 3339 (``end``) or as nanoseconds (``end_ns``), either but not both.

    Each field ``x`` that has an ``x_ns`` beside it is folded into ``x_ns`` once checked, as if
    the nanoseconds had been sent (``model_fields_set`` included), so a route reads one field.
    Only requests with times derive from it: the ledger's batches of 8190 pay nothing.
    ``required_times`` names the times that must come in one form or the other.
    """

    required_times: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _time_pairs(cls) -> tuple[str, ...]:
        return tuple(name for name in cls.model_fields if f"{name}_ns" in cls.model_fields)

    @model_validator(mode="before")
    @classmethod
    def _one_form_each(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in cls._time_pairs():
                if name in data and f"{name}_ns" in data:
                    raise ValueError(f"give {name} (RFC 3339) or {name}_ns (nanoseconds), not both")
        return data

    @model_validator(mode="after")
    def _fold_times(self) -> Self:
        for name in self._time_pairs():
            if name in self.model_fields_set:
                object.__setattr__(self, f"{name}_ns", getattr(self, name))  # frozen: set once, while checking
                self.model_fields_set.add(f"{name}_ns")
        for name in self.required_times:
            if getattr(self, f"{name}_ns") is None:
                raise ValueError(f"{name} (RFC 3339) or {name}_ns (nanoseconds) is required")
        return self


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
