"""Programmes registered in the store: the checked TOML text, its version, who registered it, and its funding.

An admin registers a programme by its TOML text (one ``[[programme]]`` table), which the
loader (``programme_files.py``) checks against the declarations in force before anything is
written; registering the same id again adds version 2, 3, … (cycles keep the version they
ran). Each line draws from a programme account (``AccountKind.programme``) on its ledger:
``funding`` maps the ledger's id to that account's id.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from sqlalchemy import bindparam, func, select

from tessera.errors import ConflictError, InvalidInputError, NotFoundError
from tessera.ledger import Account, AccountFlags, CreateAccountStatus, Ledger
from tessera.limits import ID_LIMIT
from tessera.money import AccountKind
from tessera.programs.disbursement import derived_ids
from tessera.programs.programmes import Kind, Programme
from tessera.store import PROGRAMME_TEXT_MAX, Store, inserted, programme_definitions

PROGRAMMES_LIST_MAX = 1000
# The latest version of one programme, built once: a till's every redemption reads it.
_LATEST = (
    select(programme_definitions)
    .where(programme_definitions.c.id == bindparam("id"))
    .order_by(programme_definitions.c.version.desc())
    .limit(1)
)
CATEGORIES_MAX = 8  # merchant categories an account is earmarked for (the ledger's allowed_categories)

Loader = Callable[[str], Programme]  # TOML text of one [[programme]] -> the checked programme, or a TesseraError


@dataclass(frozen=True, slots=True)
class RegisteredProgramme:
    """A programme as registered: the checked definition, the text it was checked from, and its funding."""

    programme: Programme
    version: int
    text: str
    funding: Mapping[int, int]  # ledger id -> the programme account each of its lines draws on
    registered_by: str  # principal id
    registered_at_ns: int


class RegisteredProgrammes:
    """The register of programmes, in the store; texts are checked by ``load`` as they are registered and read.

    A text read is checked once per process: a version's row is never rewritten, and the
    declarations ``load`` checks against are those loaded at start (a later version loads at the
    next start), so the check would answer the same. Compiling CEL costs ~25 ms; a till reads a
    programme several times a redemption.
    """

    def __init__(self, store: Store, load: Loader) -> None:
        self._store = store
        self._load = load
        self._loaded: dict[str, Programme] = {}  # text -> its checked programme
        self._lock = threading.Lock()

    def check(self, text: object) -> Programme:
        """The programme ``text`` defines (exactly one), checked; nothing written."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("text", "must be the TOML text of one [[programme]] table")
        if len(text) > PROGRAMME_TEXT_MAX:
            raise InvalidInputError("text", f"at most {PROGRAMME_TEXT_MAX} characters")
        return self._load(text)

    def register(
        self, text: str, programme: Programme, funding: Mapping[int, int], *, registered_by: str
    ) -> RegisteredProgramme:
        """Record ``programme`` (checked from ``text``) as the next version of its id, funded by ``funding``."""
        missing = [line.ledger for line in programme.lines if line.ledger_id not in funding]
        if missing:
            raise InvalidInputError("funding", f"no programme account named for the ledger {missing[0]!r}")
        at = time.time_ns()
        row = {
            "id": programme.id,
            "text": text,
            "funding": json.dumps({str(k): v for k, v in sorted(funding.items())}),
            "registered_by": registered_by,
            "registered_at_ns": at,
        }
        with self._store.transaction(write=True) as conn:
            version = int(conn.scalar(select(func.max(programme_definitions.c.version)).where(
                programme_definitions.c.id == programme.id)) or 0) + 1  # fmt: skip
            ok = inserted(conn, programme_definitions.insert().values(**row, version=version))
        if not ok:  # two registrations of one id at once: the other took this version
            return self.register(text, programme, funding, registered_by=registered_by)
        return RegisteredProgramme(programme, version, text, dict(funding), registered_by, at)

    def get(self, programme_id: str, version: int | None = None) -> RegisteredProgramme:
        """The latest version of ``programme_id`` (or ``version``), or NotFoundError naming ``programme``."""
        query, params = _LATEST, {"id": programme_id}
        if version is not None:
            query = select(programme_definitions).where(programme_definitions.c.id == programme_id)
            query = query.where(programme_definitions.c.version == version).limit(1)
        with self._store.transaction() as conn:
            row = conn.execute(query, params).first()
        if row is None:
            raise NotFoundError("programme", f"no programme {programme_id!r:.80} is registered")
        return self._of(row)

    def known(self, programme_id: str) -> Programme | None:
        """The latest registered definition of ``programme_id``, or None: what outlets and product lists ask."""
        try:
            return self.get(programme_id).programme
        except NotFoundError:
            return None

    def all(self) -> list[RegisteredProgramme]:
        """The latest version of every programme, by id."""
        latest = (
            select(programme_definitions.c.id, func.max(programme_definitions.c.version).label("version"))
            .group_by(programme_definitions.c.id)
            .subquery()
        )
        query = (
            select(programme_definitions)
            .join(
                latest,
                (programme_definitions.c.id == latest.c.id) & (programme_definitions.c.version == latest.c.version),
            )
            .order_by(programme_definitions.c.id)
            .limit(PROGRAMMES_LIST_MAX)
        )
        with self._store.transaction() as conn:
            rows = conn.execute(query).all()
        return [self._of(r) for r in rows]

    def _checked(self, text: str) -> Programme:
        found = self._loaded.get(text)
        if found is None:
            found = self._load(text)
            with self._lock:
                if len(self._loaded) >= PROGRAMMES_LIST_MAX:  # versions of programmes: few; bounded all the same
                    self._loaded.clear()
                self._loaded[text] = found
        return found

    def _of(self, row: object) -> RegisteredProgramme:
        text = row.text  # type: ignore[attr-defined]
        funding = {int(k): int(v) for k, v in json.loads(row.funding).items()}  # type: ignore[attr-defined]
        return RegisteredProgramme(
            self._checked(text),
            int(row.version),  # type: ignore[attr-defined]
            text,
            funding,
            str(row.registered_by),  # type: ignore[attr-defined]
            int(row.registered_at_ns),  # type: ignore[attr-defined]
        )


def funding_accounts(programme: Programme, named: Mapping[str, int], ledger: Ledger) -> dict[int, int]:
    """The programme account of each line: the one ``named`` for its ledger's name, checked, or one opened now.

    A named account must be a programme account (``AccountKind.programme``) on the line's ledger.
    One opened here has an id derived from the programme and ledger, is never overdrawn, and is
    funded by a transfer to it like any other; only an approved cycle draws on it.
    """
    ledgers = {line.ledger: line.ledger_id for line in programme.lines}
    for name in named:
        if name not in ledgers:
            raise InvalidInputError(f"funding.{name}", f"programme {programme.id!r} has no line on a ledger {name!r}")
    if programme.kind is Kind.cash and len(programme.merchant_categories) > CATEGORIES_MAX - 1:
        raise InvalidInputError(
            "merchant_categories",
            f"a cash programme's entitlements are earmarked for at most {CATEGORIES_MAX - 1} merchant categories "
            f"(the ledger's {CATEGORIES_MAX} allowed_categories, one kept for the programme's returns), "
            f"not {len(programme.merchant_categories)}",
        )
    out: dict[int, int] = {}
    for name, ledger_id in ledgers.items():
        if name in named:
            account_id = named[name]
            found = (
                ledger.lookup_accounts([account_id])
                if isinstance(account_id, int) and 0 < account_id < ID_LIMIT
                else []
            )
            if not found:
                raise NotFoundError(f"funding.{name}", f"no account {account_id!r:.40} in the ledger")
            if found[0].code != AccountKind.programme or found[0].ledger != ledger_id:
                raise InvalidInputError(
                    f"funding.{name}", f"account {account_id} is not a programme account on the ledger {name!r}"
                )
            out[ledger_id] = account_id
            continue
        account_id = int(derived_ids(np.array(["0"]), "programme", programme.id, ledger_id)[0])
        opened = ledger.create_accounts(
            [Account(account_id, ledger_id, AccountKind.programme, AccountFlags.debits_must_not_exceed_credits)]
        )
        status = opened.statuses[0]
        if status not in (CreateAccountStatus.ok, CreateAccountStatus.exists):
            raise ConflictError(
                f"funding.{name}", f"account {account_id} cannot be opened: {CreateAccountStatus(status).name}"
            )
        out[ledger_id] = account_id
    return out
