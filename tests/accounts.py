"""The account ids of the ``funded`` ledger: the issuer, Alice's and Bob's wallets, and a shop."""

from __future__ import annotations

ISSUER, ALICE, BOB, SHOP = 1, 2, 3, 4
