"""An officer's attestation at the till: only an officer of an agency the programme's basis names vouches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tessera.errors import ForbiddenError
from tessera.rules import legal_basis
from tessera.store import redemption_attestations
from tests.programs.cycle_world import World, grocer, open_world, programme_text, register

REASON = "her fingerprints fail and she has no phone; known to the clerk since enrolment"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh service with a few persons and a programme under a basis social-welfare exercises."""
    made = open_world(tmp_path, persons=4)
    basis = legal_basis(
        "welfare-act/cash", "Welfare Act", "s. 3", "statute",
        exercised_by=["social-welfare"], covers=["income.assessed", "benefit.claimed"],
    )  # fmt: skip
    made.services.restrictions.register_bases([basis])
    register(made, programme_text(basis="welfare-act/cash"))
    yield made
    made.services.close()


def test_attest__an_officer_of_another_agency_is_refused_and_nothing_written(world: World) -> None:
    """A central-bank officer may not vouch for a welfare programme's beneficiary; a welfare officer may."""
    outlet = grocer(world.services, programme_id="adult_cash")
    bank = world.services.store.get_principal_by_name("bank")
    assert bank is not None
    terms = {"number": world.numbers[0], "programme_id": "adult_cash", "outlet_id": outlet, "reason": REASON}
    refused = r"^programme: programme 'adult_cash' operates under welfare-act/cash, exercised by social-welfare"
    with pytest.raises(ForbiddenError, match=refused):
        world.services.attestations.attest(bank, valid_s=600, **terms)
    assert _attestations(world) == 0
    made = world.services.attestations.attest(world.maker, valid_s=600, **terms)
    assert (made.officer, made.person, made.programme, made.outlet_id) == (
        world.maker.id,
        world.numbers[0],
        "adult_cash",
        outlet,
    )
    assert _attestations(world) == 1


def _attestations(world: World) -> int:
    with world.services.store.transaction() as conn:
        return int(conn.scalar(select(func.count()).select_from(redemption_attestations)) or 0)
