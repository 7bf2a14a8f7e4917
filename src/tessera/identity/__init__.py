"""Identity: the person registry and its households, enrolment with 1:N de-duplication, and the internet ID.

See ``docs/identity.md`` (registry, enrolment, credentials), ``docs/dedup.md`` (the
gallery) and ``docs/oidc.md`` (logging in to other services).
"""

from tessera.identity.dedup import DUPLICATE_THRESHOLD, Candidate, FaceIndex, Gallery, SignCodeIndex
from tessera.identity.enrolment import (
    DEMOGRAPHIC_FIELDS,
    ENROLMENT_PURPOSE,
    SUBMIT_BATCH_MAX,
    Enrolment,
    Enrolments,
    NewlyRegistered,
    Submission,
)
from tessera.identity.household_columns import MembershipColumns, read_membership_columns
from tessera.identity.households import (
    MEMBERS_MAX,
    NOMINEES_MAX,
    Household,
    HouseholdChange,
    Households,
    Replayed,
    replayed,
)
from tessera.identity.numbers import check_digits, checked_number, checked_virtual_id, new_number, new_virtual_id
from tessera.identity.oidc import CLAIMS, AuthorizationRequest, OpenIdProvider, Redirect, Tokens
from tessera.identity.oidc_clients import ClientCredentials, Registration, RelyingParties, RelyingParty
from tessera.identity.passkeys import LOGIN_STATUSES, Ceremony, PasskeyRecord, Passkeys
from tessera.identity.pin import Pins, checked_pin
from tessera.identity.registry import (
    FINAL_STATUSES,
    Demographics,
    Person,
    Registry,
    StatusChange,
    VirtualId,
    checked_demographics,
)
from tessera.identity.templates import FACE_DIMS, FINGER_DIMS, FINGERS_MAX, Templates, checked_templates

__all__ = [
    "CLAIMS",
    "DEMOGRAPHIC_FIELDS",
    "DUPLICATE_THRESHOLD",
    "ENROLMENT_PURPOSE",
    "FACE_DIMS",
    "FINAL_STATUSES",
    "FINGERS_MAX",
    "FINGER_DIMS",
    "LOGIN_STATUSES",
    "MEMBERS_MAX",
    "NOMINEES_MAX",
    "SUBMIT_BATCH_MAX",
    "AuthorizationRequest",
    "Candidate",
    "Ceremony",
    "ClientCredentials",
    "Demographics",
    "Enrolment",
    "Enrolments",
    "FaceIndex",
    "Gallery",
    "Household",
    "HouseholdChange",
    "Households",
    "MembershipColumns",
    "NewlyRegistered",
    "OpenIdProvider",
    "PasskeyRecord",
    "Passkeys",
    "Person",
    "Pins",
    "Redirect",
    "Registration",
    "Registry",
    "RelyingParties",
    "RelyingParty",
    "Replayed",
    "SignCodeIndex",
    "StatusChange",
    "Submission",
    "Templates",
    "Tokens",
    "VirtualId",
    "check_digits",
    "checked_demographics",
    "checked_number",
    "checked_pin",
    "checked_templates",
    "checked_virtual_id",
    "new_number",
    "new_virtual_id",
    "read_membership_columns",
    "replayed",
]
