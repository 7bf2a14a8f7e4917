"""Household composition as a cycle reads it: a small interface of its own, so the registry's households plug in.

``tessera.identity`` keeps households (members, a head, nominees, a history); a cycle only
needs, for each registered person, their household and whether they head it, and the birth
dates of members who are not registered persons (a newborn). ``PersonsAlone`` is the default
until the registry's households are wired: each person is a household of one, and its head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from tessera.identity import MembershipColumns


@dataclass(frozen=True, slots=True)
class Composition:
    """Per registered person (in the order asked): household and head; and members who are not registered persons."""

    household: npt.NDArray[np.int64]  # any integer naming the household; equal for members of one
    head: npt.NDArray[np.bool_]  # exactly one head per household
    others_household: npt.NDArray[np.int64]  # unregistered members: their household
    others_birth_day: npt.NDArray[np.int64]  # and their birth date, in days since 1970-01-01


class HouseholdSource(Protocol):
    """Where a cycle reads household composition from (``tessera.identity``'s households, when wired)."""

    def composition(self, numbers: npt.NDArray[np.str_]) -> Composition:
        """The composition for the persons numbered ``numbers`` (Tessera numbers)."""
        ...


class PersonsAlone:
    """Each person a household of one, and its head: what a cycle assumes until households are registered."""

    def composition(self, numbers: npt.NDArray[np.str_]) -> Composition:
        """Household i for person i, each the head; nobody else."""
        empty = np.zeros(0, np.int64)
        return Composition(np.arange(len(numbers), dtype=np.int64), np.ones(len(numbers), np.bool_), empty, empty)


class RegisteredHouseholds:
    """The registry's households (``tessera.identity.Households.membership_columns``) as a cycle reads them.

    A person in no household is a household of one, and its head, as ``PersonsAlone`` has
    everyone. Every member of a registered household is a registered person, so there are no
    others to count. The members come as numpy columns read in one block, and are matched to
    the persons asked with ``np.searchsorted``: no Python object per member.
    """

    def __init__(self, memberships: Callable[[], MembershipColumns]) -> None:
        self._memberships = memberships

    def composition(self, numbers: npt.NDArray[np.str_]) -> Composition:
        """Each person's household numbered (registered ones first, then one apiece for the rest) and head flag."""
        members = self._memberships()
        household = np.empty(len(numbers), dtype=np.int64)
        head = np.ones(len(numbers), dtype=np.bool_)
        found = np.zeros(len(numbers), dtype=np.bool_)
        if len(members.numbers) and len(numbers):
            at = np.minimum(np.searchsorted(members.numbers, numbers), len(members.numbers) - 1)
            found = members.numbers[at] == numbers
            household[found] = members.households[at[found]]
            head[found] = members.heads[at[found]]
        alone = np.flatnonzero(~found)
        household[alone] = members.count + np.arange(len(alone), dtype=np.int64)  # past every registered household
        empty = np.zeros(0, np.int64)
        return Composition(household, head, empty, empty)
