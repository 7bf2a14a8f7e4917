"""Who may debit or settle what on the ledger: decided per holder, then for a whole batch at once.

Who may move money is decided per request, not per transfer (DESIGN.md): the service looks
up who holds each account a batch names, these rules say which holders the caller acts for,
and one vectorised pass says which transfers that lets it make.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from tessera.auth.policy import Grant, Scope
from tessera.auth.principals import Principal, Role

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Accounts = npt.NDArray[np.uint64]


def may_act_for(
    caller: Principal, grant: Grant, holder_id: str | None, principal_of: Callable[[str], Principal | None]
) -> bool:
    """Whether ``caller``, under ``grant``, may act on an account ``holder_id`` holds.

    Its own accounts, always; with an agency-scoped grant, also those an officer of its own
    agency holds. An account no one holds is no one's to act on. ``principal_of`` looks the
    holder up, only when the answer needs it.
    """
    if holder_id is None:
        return False
    if holder_id == caller.id:
        return True
    if grant.scope is Scope.agency:
        holder = principal_of(holder_id)
        return holder is not None and holder.role is Role.officer and holder.agency == caller.agency
    return False


def transfers_allowed(
    debit: Accounts,
    credit: Accounts,
    settles: npt.NDArray[np.bool_],
    unknown: npt.NDArray[np.bool_],
    *,
    holders: Mapping[int, str],
    acts_for: Callable[[str], bool],
) -> npt.NDArray[np.bool_]:
    """Which transfers of a batch the caller may make, given who holds each account.

    ``debit`` and ``credit`` are each transfer's accounts, a settlement's taken from its hold;
    ``settles`` marks the posts and voids, ``unknown`` those naming no pending transfer yet
    (nothing can move for them now: the ledger refuses them, or judges them under its lock
    if the hold lands first). A payment needs its debit account; settling a hold needs either
    side of it, payer or payee. ``acts_for`` is asked once per holder, not per account: a
    batch touches many accounts but few holders.
    """
    import numpy as np  # noqa: PLC0415 (numpy loads with the first batch, not with auth: small commands start fast)

    allowed_holders = {h for h in set(holders.values()) if acts_for(h)}

    controlled = np.fromiter((i for i, h in holders.items() if h in allowed_holders), dtype=np.uint64)
    either_side = np.isin(debit, controlled) | np.isin(credit, controlled)
    allowed: npt.NDArray[np.bool_] = np.where(settles, either_side | unknown, np.isin(debit, controlled))
    return allowed
