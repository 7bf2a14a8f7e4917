"""Declarations are law: versions of the event types, record types and legal bases, made by DPOs (issue 16).

What data means (which event types exist, what each field carries, which legal bases allow
what) decides what the guard lets rules read. It is made by data-protection officers
(``Role.dpo``), a role apart from the officers who write rules and the admins who run the
service, and it is kept in the store, versioned, never in a file a rule author passes.

- A DPO proposes a new version: the **whole document** (``declaration_checks``; the
  definitions loader's TOML), written against the version in force. The whole document,
  not a patch, so that what is approved is exactly what will be law, reviewed as one text.
  The proposal is checked at once (the lexicon, relabelled shapes, the loader, and the
  legal bases against their terms on record) and kept, pending, with what it changes.
- It takes effect when approved: by one DPO (the proposer may approve their own), or by two
  different DPOs when it adds or changes a legal basis that can restrict (one that names
  domains) or grants an exception to the lexicon. Any DPO may refuse it, with a reason.
  A version proposed against one that is no longer in force cannot be approved: it is
  proposed again, on top of the new one. Every proposal, approval and refusal is kept
  (``declaration_versions``, ``declaration_decisions``) and logged (``tessera.declarations``).
- The version in force is the approved one with the highest number. ``tessera serve`` loads
  it at start; a version approved while the service runs takes effect at its next start.
- On a fresh store the built-in definitions become version 1 at the first start, recorded
  as built in (no proposer). When a later release ships other built-in definitions and the
  law in force is still a built-in version, the new ones are proposed (pending) for the DPOs
  to approve; law the DPOs made is never replaced by a release.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, text, update

from tessera.auth import Principal, Role
from tessera.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError, TesseraError
from tessera.limits import PAGE_SIZE_MAX
from tessera.rules.basis import LegalBases
from tessera.rules.declaration_checks import (
    Changes,
    Declared,
    changes,
    checked_document,
    checked_exceptions,
    declared,
    document_sha256,
    loaded,
)
from tessera.rules.definitions import BUILTIN_DEFINITIONS, builtin_path
from tessera.rules.exercise import bases_on_record, record_basis
from tessera.store import DECLARATION_NOTE_MAX, Store, declaration_decisions, declaration_versions
from tessera.text import checked_text, shows_letter_or_digit

log = logging.getLogger("tessera.declarations")

EXPORT_FORMAT = "tessera-declarations/1"
VERSIONS_LIST_MAX = PAGE_SIZE_MAX
HISTORY_MAX = 256  # the approved versions whose protected shapes a proposal may not relabel
BUILTIN_NOTE = "the built-in definitions of this Tessera release"


class DeclarationStatus(StrEnum):
    """Where a version stands; the one in force is the approved one with the highest number."""

    pending = "pending"
    approved = "approved"
    refused = "refused"


@dataclass(frozen=True, slots=True)
class DeclarationDecision:
    """One DPO's approval or refusal of a version, with the reason."""

    principal_id: str
    decision: str  # approve, refuse
    reason: str
    at_ns: int


@dataclass(frozen=True, slots=True)
class DeclarationVersion:
    """A version of the declarations as kept: the whole document, its hash, who proposed and decided it."""

    version: int
    base_version: int | None  # the version in force when it was proposed; None for the first
    document: str
    sha256: str
    exceptions: Mapping[str, str]  # name -> reason: lexicon refusals two DPOs waived
    note: str
    approvals_needed: int  # 0 for a built-in version 1, else 1 or 2
    proposed_by: str | None  # a DPO's principal id; None: built in
    proposed_at_ns: int
    status: DeclarationStatus
    decided_at_ns: int | None
    decisions: tuple[DeclarationDecision, ...] = ()

    @property
    def approved_by(self) -> tuple[str, ...]:
        """The DPOs who approved it, in order."""
        return tuple(d.principal_id for d in self.decisions if d.decision == "approve")


@dataclass(frozen=True, slots=True)
class DeclarationProposal:
    """A version just proposed, and what it changes against the version in force."""

    version: DeclarationVersion
    changes: Changes


def checked_dpo(principal: Principal, doing: str) -> None:
    """ForbiddenError unless ``principal`` is an enabled data-protection officer."""
    if principal.role is not Role.dpo or principal.disabled:
        raise ForbiddenError(f"only a data-protection officer may {doing}")


def _checked_reason(value: object, field: str, *, required: bool) -> str:
    text = checked_text(value, field, DECLARATION_NOTE_MAX) if value or required else ""
    if required and not shows_letter_or_digit(text):
        raise InvalidInputError(field, f"must be 1-{DECLARATION_NOTE_MAX} characters, a letter or digit among them")
    return text


class Declarations:
    """The versions of the declarations in the registry database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._loaded: dict[str, Declared] = {}  # by sha256: history is read again for every proposal

    # -- what is in force ---------------------------------------------------------------------

    def in_force(self) -> DeclarationVersion | None:
        """The approved version with the highest number, or None on a store that has none yet."""
        with self.store.transaction() as conn:
            number = _in_force_number(conn)
            return None if number is None else _version_of(conn, number)

    def load_in_force(self) -> Declared:
        """The declarations in force, checked again (hash, lexicon, loader); version 1 recorded first if none is.

        ``tessera serve`` calls it at start: declarations come from here, never from a file.
        """
        current = self.bootstrap()
        return self.load(current)

    def current(self) -> Declared:
        """The declarations in force without writing anything: on a store with none, what version 1 would be."""
        found = self.in_force()
        if found is None:
            return declared(self._builtin_document(), name=f"{BUILTIN_DEFINITIONS} (version 1, not yet recorded)")
        return self.load(found)

    def load(self, version: DeclarationVersion) -> Declared:
        """A stored version, its hash and every check run again."""
        if document_sha256(version.document) != version.sha256:
            raise ConflictError(
                f"declarations.version[{version.version}]", "the document does not match its SHA-256: it was altered"
            )
        made = declared(version.document, name=f"declarations v{version.version}", exceptions=version.exceptions)
        return replace(made, version=version.version)

    def bootstrap(self) -> DeclarationVersion:
        """The version in force, after recording the built-in definitions as version 1 on a store with none.

        Version 1 also holds every legal basis on record that the built-in ones do not
        (registered before declarations were law), so no rule citing one stops loading.
        When the law in force is a built-in version and this release's built-in definitions
        differ, they are proposed as a new version for the DPOs (``propose_builtin``).
        """
        found = self.in_force()
        if found is None:
            document = self._builtin_document()
            declared(document, name=BUILTIN_DEFINITIONS)  # a release whose own definitions fail must not start
            recorded_elsewhere = ConflictError("declarations", "version 1 was recorded by another process")
            try:
                with self.store.transaction(write=True, conflict=lambda: recorded_elsewhere) as conn:
                    _serialised(conn)
                    if _in_force_number(conn) is None and _last_number(conn) is None:
                        _insert(conn, 1, None, document, {}, BUILTIN_NOTE, 0, None, DeclarationStatus.approved)
                        log.info("declarations: version 1 recorded, the built-in definitions")
            except ConflictError:
                pass  # another process recorded it first
            found = self.in_force()
            if found is None:
                raise ConflictError("declarations", "no version is in force, and the store has versions already")
        elif found.proposed_by is None:
            self.propose_builtin(found)
        return found

    def propose_builtin(self, current: DeclarationVersion) -> DeclarationVersion | None:
        """Propose this release's built-in definitions when they differ from every version on record."""
        document = self._builtin_document()
        sha = document_sha256(document)
        with self.store.transaction() as conn:
            known = conn.scalar(select(func.count()).where(declaration_versions.c.sha256 == sha))
        if known:
            return None
        try:
            new = declared(document, name=BUILTIN_DEFINITIONS, history=self._history())
            diff = changes(self.load(current), new)
            number_taken = ConflictError("version", "another proposal took the next number")
            with self.store.transaction(write=True, conflict=lambda: number_taken) as conn:
                _serialised(conn)
                number = (_last_number(conn) or 0) + 1
                note = f"{BUILTIN_NOTE}, differing from version {current.version} in force"
                _insert(
                    conn,
                    number,
                    current.version,
                    document,
                    {},
                    note,
                    diff.approvals_needed,
                    None,
                    DeclarationStatus.pending,
                )
        except TesseraError as error:
            log.warning("declarations: this release's built-in definitions were not proposed: %s", error)
            return None
        log.warning("declarations: version %d proposed: this release's built-in definitions (DPOs decide)", number)
        return self.require(number)

    def _builtin_document(self) -> str:
        """The built-in definitions, plus the legal bases on record that they do not hold (as TOML)."""
        document = checked_document(builtin_path(BUILTIN_DEFINITIONS).read_text(encoding="utf-8"))
        builtin = loaded(document, BUILTIN_DEFINITIONS).bases
        with self.store.transaction() as conn:
            extra = [b for b in bases_on_record(conn) if b.id not in builtin]
        lines = []
        for basis in sorted(extra, key=lambda b: b.id):
            if basis.domains and not basis.exercised_by:
                log.warning("legal basis %s closes domains but names no agency: left out of version 1", basis.id)
                continue
            lines += ["", "[[legal_basis]]  # on record before declarations were law (migration 0014)"]
            lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in _basis_terms(basis).items()]
        return document + "\n".join(lines) + ("\n" if lines else "")

    # -- proposing and deciding ---------------------------------------------------------------

    def propose(
        self,
        by: Principal,
        document: str,
        note: str,
        exceptions: Mapping[str, str] | None = None,
        *,
        name: str = "proposal",
    ) -> DeclarationProposal:
        """Propose ``document`` as the next version, on top of the one in force; it waits for approval.

        ``exceptions`` (name -> reason) waive lexicon or shape refusals and need two DPOs;
        None keeps those of the version in force that this document still needs.
        """
        checked_dpo(by, "propose declarations")
        note = _checked_reason(note, "note", required=True)
        current = self.bootstrap()
        base = self.load(current)
        granted = dict(current.exceptions) if exceptions is None else checked_exceptions(exceptions)
        new = declared(document, name=name, exceptions=granted, history=self._history())
        if exceptions is None:
            granted = {k: v for k, v in granted.items() if k in new.waived}
        else:
            for key in sorted(set(granted) - new.waived):
                raise InvalidInputError(f"exceptions.{key}", "waives no refusal in this document: nothing to grant")
        if new.sha256 == current.sha256 and granted == dict(current.exceptions):
            raise ConflictError("document", f"the same as version {current.version}, in force")
        self._check_bases_on_record(new.bases)
        diff = changes(base, replace(new, exceptions=granted))
        number_taken = ConflictError("version", "another proposal took the next number")
        for _ in range(3):  # two proposals at once: one takes the number, the other the next
            try:
                with self.store.transaction(write=True, conflict=lambda: number_taken) as conn:
                    _serialised(conn)
                    number = (_last_number(conn) or 0) + 1
                    needed = diff.approvals_needed
                    _insert(
                        conn,
                        number,
                        current.version,
                        new.document,
                        granted,
                        note,
                        needed,
                        by.id,
                        DeclarationStatus.pending,
                    )
                break
            except ConflictError:
                continue
        else:
            raise ConflictError("version", "other proposals keep taking the next number; try again")
        log.info(
            "declarations: version %d proposed by %s on version %d (%d approval%s needed): %s",
            number, by.id, current.version, needed, "s" if needed > 1 else "", note,
        )  # fmt: skip
        return DeclarationProposal(self.require(number), diff)

    def approve(self, version: int, by: Principal, reason: str = "") -> DeclarationVersion:
        """Approve a pending version; it takes effect when it has the approvals it needs.

        One DPO (the proposer may be that one) or, for a version that adds or changes a basis
        that can restrict or grants a lexicon exception, two different DPOs, so never the
        proposer alone. A DPO decides a version once.
        """
        checked_dpo(by, "approve declarations")
        reason = _checked_reason(reason, "reason", required=False)
        decided_at_once = ConflictError("version", f"version {version} was decided at the same time; look again")
        with self.store.transaction(write=True, conflict=lambda: decided_at_once) as conn:
            _serialised(conn)
            found = self._pending(conn, version)
            decided = {d.principal_id for d in found.decisions}
            if by.id in decided:
                raise ConflictError("version", f"you have decided version {version} already")
            _decide(conn, version, by.id, "approve", reason)
            approvals = len(found.approved_by) + 1
            if approvals >= found.approvals_needed:
                conn.execute(
                    update(declaration_versions)
                    .where(declaration_versions.c.version == version)
                    .values(status=DeclarationStatus.approved.value, decided_at_ns=time.time_ns())
                )
        result = self.require(version)
        if result.status is DeclarationStatus.approved:
            log.warning(
                "declarations: version %d approved by %s and in force (the service loads it at its next start)",
                version, ", ".join(result.approved_by),
            )  # fmt: skip
        else:
            log.info("declarations: version %d approved by %s; it needs another DPO", version, by.id)
        return result

    def refuse(self, version: int, by: Principal, reason: str) -> DeclarationVersion:
        """Refuse a pending version, with a reason; any DPO may, its proposer included (a withdrawal)."""
        checked_dpo(by, "refuse declarations")
        reason = _checked_reason(reason, "reason", required=True)
        with self.store.transaction(write=True) as conn:
            _serialised(conn)
            found = self._pending(conn, version, stale_ok=True)
            if by.id in {d.principal_id for d in found.decisions}:
                raise ConflictError("version", f"you have decided version {version} already")
            _decide(conn, version, by.id, "refuse", reason)
            conn.execute(
                update(declaration_versions)
                .where(declaration_versions.c.version == version)
                .values(status=DeclarationStatus.refused.value, decided_at_ns=time.time_ns())
            )
        log.info("declarations: version %d refused by %s: %s", version, by.id, reason)
        return self.require(version)

    def _pending(self, conn: Connection, version: int, *, stale_ok: bool = False) -> DeclarationVersion:
        found = _version_of(conn, version)
        if found is None:
            raise NotFoundError("version", f"no declarations version {version!r:.20}")
        if found.status is not DeclarationStatus.pending:
            raise ConflictError("version", f"version {version} is {found.status.value} already")
        in_force = _in_force_number(conn)
        if not stale_ok and found.base_version != in_force:
            raise ConflictError(
                "version",
                f"version {version} was proposed on version {found.base_version}, but version {in_force} is in "
                f"force now: propose it again on top of version {in_force}, and refuse this one",
            )
        return found

    def _check_bases_on_record(self, bases: LegalBases) -> None:
        """Each basis as the service will record it at start: terms on record and agencies registered, or refused."""

        class _RolledBackError(Exception):
            """Raised to leave the transaction without committing what the check wrote."""

        try:
            with self.store.transaction(write=True) as conn:
                for basis_id in bases.ids():
                    try:
                        record_basis(conn, bases.get(basis_id), time.time_ns())
                    except (ConflictError, NotFoundError) as error:
                        message = str(error).removeprefix(f"{error.field}: ")
                        raise type(error)(f"legal_basis {basis_id}", message) from None
                raise _RolledBackError
        except _RolledBackError:
            pass  # nothing written: the service records the bases when it loads the version

    def _history(self) -> list[tuple[str, Declared]]:
        """The approved versions, newest first (at most ``HISTORY_MAX``), as the loader reads them."""
        query = (
            select(declaration_versions.c.version, declaration_versions.c.document, declaration_versions.c.sha256)
            .where(declaration_versions.c.status == DeclarationStatus.approved.value)
            .order_by(declaration_versions.c.version.desc())
            .limit(HISTORY_MAX)
        )
        with self.store.transaction() as conn:
            rows = list(conn.execute(query))
        found = []
        for row in rows:
            made = self._loaded.get(row.sha256)
            if made is None:
                try:
                    made = loaded(row.document, f"declarations v{row.version}")
                except TesseraError as error:  # a loader stricter than when it was approved: nothing to compare
                    log.warning("declarations: version %d no longer loads: %s", row.version, error)
                    continue
                self._loaded[row.sha256] = made
            found.append((f"version {row.version}", made))
        return found

    # -- reading --------------------------------------------------------------------------------

    def get(self, version: int) -> DeclarationVersion | None:
        if isinstance(version, bool) or not isinstance(version, int):
            return None
        with self.store.transaction() as conn:
            return _version_of(conn, version)

    def require(self, version: int) -> DeclarationVersion:
        found = self.get(version)
        if found is None:
            raise NotFoundError("version", f"no declarations version {version!r:.20}")
        return found

    def versions(
        self, status: DeclarationStatus | None = None, limit: int = VERSIONS_LIST_MAX
    ) -> list[DeclarationVersion]:
        """Versions newest first, with their decisions; only those with ``status`` if given."""
        if not 1 <= limit <= VERSIONS_LIST_MAX:
            raise InvalidInputError("limit", f"must be 1-{VERSIONS_LIST_MAX}")
        query = select(declaration_versions.c.version).order_by(declaration_versions.c.version.desc()).limit(limit)
        if status is not None:
            query = query.where(declaration_versions.c.status == DeclarationStatus(status).value)
        with self.store.transaction() as conn:
            numbers = list(conn.scalars(query))
            return [v for n in numbers if (v := _version_of(conn, n)) is not None]

    def export(self, version: int | None = None) -> dict[str, Any]:
        """An approved version (the one in force by default) as a DPO hands it to rule authors (JSON)."""
        found = self.in_force() if version is None else self.require(version)
        if found is None:
            found = self.bootstrap()
        if found.status is not DeclarationStatus.approved:
            raise ConflictError("version", f"version {found.version} is {found.status.value}: only law is exported")
        return {
            "format": EXPORT_FORMAT,
            "version": found.version,
            "sha256": found.sha256,
            "approved_by": list(found.approved_by),
            "approved_at_ns": found.decided_at_ns,
            "exceptions": dict(found.exceptions),
            "document": found.document,
        }


def builtin_declarations() -> Declared:
    """The built-in definitions, checked, as version 1 of a fresh store holds them (no store read)."""
    document = checked_document(builtin_path(BUILTIN_DEFINITIONS).read_text(encoding="utf-8"))
    return replace(declared(document, name=BUILTIN_DEFINITIONS), version=1)


def declared_from_export(data: object, name: str = "export") -> Declared:
    """The declarations in a DPO's export (``Declarations.export``): its hash verified, every check run again."""
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise InvalidInputError(
            name, f"not a declarations export (format {EXPORT_FORMAT}: tessera declarations export)"
        )
    document, sha, version = data.get("document"), data.get("sha256"), data.get("version")
    if not isinstance(document, str) or not isinstance(sha, str) or document_sha256(document) != sha:
        raise InvalidInputError(f"{name}.document", "does not match its sha256: the export was altered")
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInputError(f"{name}.version", "must be the version number")
    exceptions = checked_exceptions(data.get("exceptions", {}), f"{name}.exceptions")
    made = declared(document, name=f"{name} (declarations v{version})", exceptions=exceptions)
    return replace(made, version=version)


def _basis_terms(basis: Any) -> dict[str, Any]:
    terms: dict[str, Any] = {"id": basis.id, "instrument": basis.instrument, "article": basis.article}
    terms["kind"] = basis.kind.value
    if basis.domains:
        terms["domains"] = sorted(d.value for d in basis.domains)
    if basis.exercised_by:
        terms["exercised_by"] = sorted(basis.exercised_by)
    return terms


# -- rows -------------------------------------------------------------------------------------------

# Any fixed number: on PostgreSQL, writers of declarations queue on it, so two approvals at
# once cannot both miss the other's, nor two versions on the same base both take effect.
DECLARATIONS_LOCK_KEY = 0x7E55DEC1


def _serialised(conn: Connection) -> None:
    """Take the declarations' write lock for this transaction (SQLite's write transaction is one already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DECLARATIONS_LOCK_KEY})


def _in_force_number(conn: Connection) -> int | None:
    query = select(func.max(declaration_versions.c.version)).where(
        declaration_versions.c.status == DeclarationStatus.approved.value
    )
    number = conn.scalar(query)
    return None if number is None else int(number)


def _last_number(conn: Connection) -> int | None:
    number = conn.scalar(select(func.max(declaration_versions.c.version)))
    return None if number is None else int(number)


def _insert(  # noqa: PLR0917 (one row's columns, in the table's order)
    conn: Connection,
    number: int,
    base: int | None,
    document: str,
    exceptions: Mapping[str, str],
    note: str,
    needed: int,
    by: str | None,
    status: DeclarationStatus,
) -> None:
    now = time.time_ns()
    conn.execute(
        insert(declaration_versions).values(
            version=number,
            base_version=base,
            document=document,
            sha256=document_sha256(document),
            exceptions=json.dumps(dict(exceptions), sort_keys=True, ensure_ascii=False),
            note=note,
            approvals_needed=needed,
            proposed_by=by,
            proposed_at_ns=now,
            status=status.value,
            decided_at_ns=now if status is DeclarationStatus.approved else None,
        )
    )


def _decide(conn: Connection, version: int, principal_id: str, decision: str, reason: str) -> None:
    conn.execute(
        insert(declaration_decisions).values(
            version=version, principal_id=principal_id, decision=decision, reason=reason, at_ns=time.time_ns()
        )
    )


def _version_of(conn: Connection, number: int) -> DeclarationVersion | None:
    row = conn.execute(select(declaration_versions).where(declaration_versions.c.version == number)).first()
    if row is None:
        return None
    decisions = conn.execute(
        select(declaration_decisions)
        .where(declaration_decisions.c.version == number)
        .order_by(declaration_decisions.c.at_ns, declaration_decisions.c.principal_id)
    )
    return _from_row(row, tuple(DeclarationDecision(d.principal_id, d.decision, d.reason, d.at_ns) for d in decisions))


def _from_row(row: Row[Any], decisions: tuple[DeclarationDecision, ...]) -> DeclarationVersion:
    return DeclarationVersion(
        row.version,
        row.base_version,
        row.document,
        row.sha256,
        json.loads(row.exceptions),
        row.note,
        row.approvals_needed,
        row.proposed_by,
        row.proposed_at_ns,
        DeclarationStatus(row.status),
        row.decided_at_ns,
        decisions,
    )
