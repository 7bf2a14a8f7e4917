"""The money registers' tests' office: a registry store with two admins and the currency's issuer."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.auth import Principal
from tessera.money import AdminRequests
from tessera.store import Store


@dataclass
class Office:
    """A registry store and its admin requests, with two admins and an officer of the central bank."""

    store: Store
    requests: AdminRequests
    admin: Principal
    admin_2: Principal
    banker: Principal  # an officer of the central bank, made before any ledger named it
