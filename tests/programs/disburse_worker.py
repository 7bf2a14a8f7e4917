"""Child process for the disbursement crash test: a cycle of many small batches, disbursed until SIGKILLed.

Run as ``python -m tests.programs.disburse_worker DATA_DIR``. On first start it seeds persons,
registers and funds the programme, and previews and approves one cycle (two officers); on
every start it prints ``ready`` with the cycle's id and disburses it (or finishes it), fsync
on every batch as in production, then prints ``done``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tessera.programs import CycleStatus
from tests.programs.cycle_world import CYCLE_DATE_NS, World, open_world, programme_text, register

PERSONS = 600
BATCH_SIZE = 8  # many batches: a kill lands mid-run


def open_durable(data: Path) -> World:
    """The world over ``data`` with the ledger synced on every batch and small disbursement batches."""
    return open_world(data, persons=PERSONS, sync=True, batch_size=BATCH_SIZE)


def cycle_of(world: World) -> int:
    """The one cycle, approved; made on first start."""
    cycles = world.services.cycles
    if "adult_cash" not in {r.programme.id for r in world.services.programmes.all()}:
        register(world, programme_text())
    made = cycles.of_programme("adult_cash")
    if made:
        return made[0].id
    cycle = cycles.create("adult_cash", CYCLE_DATE_NS, by=world.maker)
    cycles.preview(cycle.id, by=world.maker)
    approved = cycles.approve(cycle.id, by=world.checker)
    assert approved.status is CycleStatus.approved
    return approved.id


def main() -> None:
    world = open_durable(Path(sys.argv[1]))
    cycle_id = cycle_of(world)
    print(f"ready {cycle_id}", flush=True)
    world.services.cycles.disburse(cycle_id, by=world.checker)
    print("done", flush=True)
    world.services.close()


if __name__ == "__main__":
    main()
