"""The registries' storage: principals, their API keys, and who holds which ledger account.

One ``Store`` serves the whole process from any number of threads: every call checks a
connection out of a pool, runs one transaction and hands it back. SQLite (a file under
the data directory) is the embedded default, PostgreSQL the production backend; the URL
chooses, and ``Store.open`` migrates the schema to the newest revision before returning.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Executable,
    Row,
    String,
    and_,
    any_,
    bindparam,
    func,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from tessera.auth import (
    AGENCY_MAX,
    ORG_PREFIX,
    Principal,
    Role,
    checked_display_name,
    checked_name,
    checked_organisation,
    checked_role,
)
from tessera.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    StoreClosedError,
    StoreError,
    TesseraError,
)
from tessera.limits import BATCH_SIZE_MAX, ID_LIMIT, PAGE_SIZE_MAX, check_batch_size

if TYPE_CHECKING:
    from alembic.config import Config
    from numpy.typing import NDArray

from tessera.store.connecting import (
    SQLITE_BUSY_TIMEOUT_S,
    engine_for,
    parsed_url,
)
from tessera.store.locks import Busy, checked_lock_name, held_on_postgresql, held_on_sqlite
from tessera.store.money_tables import agencies
from tessera.store.shared import LAZY as _LAZY
from tessera.store.shared import SHARED as _SHARED
from tessera.store.shared import WRITE as _WRITE
from tessera.store.shared import Shared, one_writer, shared_transaction
from tessera.store.tables import (
    KEY_ID_MAX,
    SECRET_HASH_MAX,
    SUBJECT_MAX,
    account_holders,
    api_keys,
    holder_accounts,
    persons,
    principals,
)

# --- limits ---------------------------------------------------------------------------------

PRINCIPALS_LIST_MAX = PAGE_SIZE_MAX
ACCOUNTS_LIST_MAX = BATCH_SIZE_MAX  # one ledger batch's accounts fit one call
HOLDER_PASS_MAX = 2**25  # holders ``set_cycle_account_holder_columns`` takes: a 10M-unit cycle's, three lines each
API_KEYS_ACTIVE_MAX = 100  # per principal; a leak of keys is a bug, not a workload
API_KEYS_LIST_MAX = PAGE_SIZE_MAX  # the newest; revoked keys stay on record
SECRET_HASH_MIN = 16  # below 128 bits a "hash" is a mistake
_HOLDER_FIELDS = 2  # a holder is a pair (account_id, principal_id)
# Built once: every request that checks a key reads these (building a statement costs as much as running it).
_PRINCIPAL_BY_ID = select(principals).where(principals.c.id == bindparam("id"))
_API_KEY_BY_ID = select(api_keys).where(api_keys.c.key_id == bindparam("key_id"))

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Matched with fullmatch: "$" would let a trailing newline through.
_PRINCIPAL_ID = re.compile(r"p_[0-9a-f]{16}")
_KEY_ID = re.compile(rf"[A-Za-z0-9_.-]{{1,{KEY_ID_MAX}}}")
_SUBJECT = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{SUBJECT_MAX - 1}}}")
# What a write's broken constraint means, looked up after the rollback; None: none of the caller's.
Conflict = Callable[[], TesseraError | None]


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored API key: only the hash of its secret, never the secret."""

    key_id: str
    principal_id: str
    secret_hash: bytes
    created_at_ns: int
    revoked_at_ns: int | None = None


def store_url(data_dir: Path, database_url: str | None = None) -> str:
    """Where the registries of a data directory live: ``database_url``, else SQLite's ``registry.db`` in it."""
    return database_url or f"sqlite:///{data_dir / 'registry.db'}"


def alembic_config() -> Config:
    """Alembic's configuration for the migrations shipped in this package; no ini file."""
    from alembic.config import Config  # noqa: PLC0415 (alembic loads only to migrate: small commands start fast)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    return config


@cache
def _head_revision() -> str:
    """The newest migration's revision, read from the file names: each is numbered as its revision is, in
    one line of descent (tests/store/test_migrations.py checks against alembic's own answer)."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))


def _current_revisions(conn: Connection) -> tuple[str, ...]:
    """The revisions the database is at, as alembic records them; none on a fresh database."""
    if not inspect(conn).has_table("alembic_version"):
        return ()
    return tuple(conn.scalars(text("SELECT version_num FROM alembic_version")))


class Store:
    """The registries in one database. Open with ``Store.open(url)``; safe to share between threads."""

    def __init__(self, engine: Engine, url_redacted: str, password: str | None) -> None:
        self._engine = engine
        self._password = password
        self._closed = False
        # SQLite takes one writer at a time: this process's writers queue here first (shared.one_writer).
        self._writer = threading.RLock() if engine.dialect.name == "sqlite" else None
        self.url_redacted = url_redacted

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to ``sqlite:///path`` or ``postgresql://user@host/db`` and migrate it to head."""
        target, redacted = parsed_url(url)
        store = cls(engine_for(target), redacted, target.password)
        try:
            store._migrate()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Close every pooled connection; later calls raise ``StoreClosedError``."""
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url_redacted!r})"

    # --- principals -------------------------------------------------------------------------

    def create_principal(
        self,
        name: str,
        role: Role,
        agency: str = "",
        subject: str = "",
        organisation: str = "",
        *,
        display_name: str = "",
    ) -> Principal:
        """Register a caller. Officers need an agency; a citizen's subject defaults to its own id.

        A merchant may act for an ``organisation`` (``org:<id>``); several merchants may act
        for one, and a restriction on it then reaches all their accounts. ``display_name`` is
        what people whose data the principal reads are shown (``auth.published_name``).
        """
        name = checked_name(name)
        display_name = checked_display_name(display_name)
        role = checked_role(role)
        if not isinstance(agency, str):
            raise InvalidInputError("agency", "must be a string")
        if agency or role is Role.officer:
            agency = checked_name(agency, "agency", AGENCY_MAX)
        if not isinstance(subject, str):
            raise InvalidInputError("subject", "must be a string")
        if subject and role is not Role.citizen:
            raise InvalidInputError("subject", "only citizens have a subject")
        if subject and not _SUBJECT.fullmatch(subject):
            raise InvalidInputError(
                "subject", f"must be 1-{SUBJECT_MAX} letters, digits or _.:- (starting alphanumeric)"
            )
        if not isinstance(organisation, str):
            raise InvalidInputError("organisation", "must be a string")
        if organisation and role is not Role.merchant:
            raise InvalidInputError("organisation", "only merchants act for an organisation")
        if organisation:
            checked_organisation(organisation)
        principal_id = "p_" + secrets.token_hex(8)
        if role is Role.citizen and not subject:
            subject = principal_id
        principal = Principal(
            principal_id, name, role, agency, subject, time.time_ns(), False, organisation, display_name
        )

        def conflict() -> ConflictError | None:
            # The unique constraints say which: look, rather than parse each driver's message.
            if self.get_principal_by_name(name) is not None:
                return ConflictError("name", f"{name!r} is taken")
            if subject and self._principal_of_subject(subject) is not None:
                return ConflictError("subject", f"{subject!r} already has a principal")
            return None

        with self._transaction(write=True, conflict=conflict) as conn:
            # An agency is a fact of the register, not a spelling: "central bank" is not "central-bank".
            if agency and conn.scalar(select(agencies.c.id).where(agencies.c.id == agency)) is None:
                raise NotFoundError("agency", f"no agency {agency!r} is registered (tessera agencies list)")
            conn.execute(principals.insert().values(_principal_values(principal)))
        return principal

    def get_principal(self, principal_id: str) -> Principal | None:
        """The principal with this id, disabled or not; None if there is none."""
        principal_id = _checked_principal_id(principal_id)
        with self._transaction() as conn:
            row = conn.execute(_PRINCIPAL_BY_ID, {"id": principal_id}).first()
        return None if row is None else _principal_of(row)

    def get_principal_by_name(self, name: str) -> Principal | None:
        """The principal with this exact name (names are case-sensitive); None if there is none."""
        name = checked_name(name)
        with self._transaction() as conn:
            row = conn.execute(select(principals).where(principals.c.name == name)).first()
        return None if row is None else _principal_of(row)

    def list_principals(self, role: Role | None = None, limit: int = 100, after: str | None = None) -> list[Principal]:
        """Principals in id order, optionally of one role; pass the last id seen as ``after`` for the next page."""
        query = select(principals).order_by(principals.c.id)
        if role is not None:
            query = query.where(principals.c.role == checked_role(role).value)
        query = query.limit(_checked_int(limit, "limit", 1, PRINCIPALS_LIST_MAX))
        if after is not None:
            query = query.where(principals.c.id > _checked_principal_id(after, "after"))
        with self._transaction() as conn:
            return [_principal_of(row) for row in conn.execute(query)]

    def disable_principal(self, principal_id: str) -> None:
        """Mark a principal disabled; it is kept, with its keys and accounts, for the record."""
        principal_id = _checked_principal_id(principal_id)
        with self._transaction(write=True) as conn:
            done = conn.execute(update(principals).where(principals.c.id == principal_id).values(disabled=True))
            if done.rowcount == 0:
                raise NotFoundError("principal_id", f"no principal {principal_id}")

    def _principal_of_subject(self, subject: str) -> Principal | None:
        with self._transaction() as conn:
            row = conn.execute(select(principals).where(principals.c.subject == subject)).first()
        return None if row is None else _principal_of(row)

    # --- API keys ---------------------------------------------------------------------------

    def add_api_key(
        self, key_id: str, principal_id: str, secret_hash: bytes, created_at_ns: int, *, for_person: bool = False
    ) -> None:
        """Store a key's id and the hash of its secret for a principal.

        A principal that speaks for a registered person gets no API key: people log in with a
        passkey and their PIN, and a key would let whoever minted it act as them (spend their
        wallet, read their notices, appeal in their name). Only ``tessera serve --demo`` passes
        ``for_person``, for the demo's own synthetic people.
        """
        key_id = _checked_key_id(key_id)
        principal_id = _checked_principal_id(principal_id)
        if not isinstance(secret_hash, bytes | bytearray) or not SECRET_HASH_MIN <= len(secret_hash) <= SECRET_HASH_MAX:
            raise InvalidInputError("secret_hash", f"must be {SECRET_HASH_MIN}-{SECRET_HASH_MAX} bytes")
        created_at_ns = _checked_int(created_at_ns, "created_at_ns", 0, ID_LIMIT - 1)

        def conflict_key() -> ConflictError | None:
            return ConflictError("key_id", f"{key_id!r} exists") if self.get_api_key(key_id) is not None else None

        with self._transaction(write=True, conflict=conflict_key) as conn:
            # Locking the principal's row serialises key additions per principal, so
            # that the count below stays true until this transaction commits.
            owner = conn.execute(
                select(principals.c.id).where(principals.c.id == principal_id).with_for_update()
            ).first()
            if owner is None:
                raise NotFoundError("principal_id", f"no principal {principal_id}")
            if not for_person and conn.scalar(select(persons.c.number).where(persons.c.principal_id == principal_id)):
                raise ForbiddenError(
                    f"principal {principal_id} speaks for a registered person, who logs in with a passkey and PIN: "
                    "no API key is made for a person (only serve --demo's synthetic people have one)"
                )
            active = conn.scalar(
                select(func.count())
                .select_from(api_keys)
                .where(api_keys.c.principal_id == principal_id, api_keys.c.revoked_at_ns.is_(None))
            )
            if active is not None and active >= API_KEYS_ACTIVE_MAX:
                raise ConflictError("principal_id", f"already holds {API_KEYS_ACTIVE_MAX} active keys")
            conn.execute(
                api_keys.insert().values(
                    key_id=key_id,
                    principal_id=principal_id,
                    secret_hash=bytes(secret_hash),
                    created_at_ns=created_at_ns,
                    revoked_at_ns=None,
                )
            )

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, revoked or not; None if there is none."""
        key_id = _checked_key_id(key_id)
        with self._transaction() as conn:
            row = conn.execute(_API_KEY_BY_ID, {"key_id": key_id}).first()
        return None if row is None else _api_key_of(row)

    def revoke_api_key(self, key_id: str, at_ns: int) -> None:
        """Revoke a key from ``at_ns`` on. Revoking it again keeps the first time."""
        key_id = _checked_key_id(key_id)
        at_ns = _checked_int(at_ns, "at_ns", 0, ID_LIMIT - 1)
        with self._transaction(write=True) as conn:
            done = conn.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at_ns.is_(None))
                .values(revoked_at_ns=at_ns)
            )
            if (
                done.rowcount == 0
                and conn.execute(select(api_keys.c.key_id).where(api_keys.c.key_id == key_id)).first() is None
            ):
                raise NotFoundError("key_id", f"no key {key_id!r}")

    def list_api_keys(self, principal_id: str) -> list[ApiKeyRecord]:
        """A principal's keys, newest first, revoked ones included (at most ``API_KEYS_LIST_MAX``)."""
        principal_id = _checked_principal_id(principal_id)
        query = (
            select(api_keys)
            .where(api_keys.c.principal_id == principal_id)
            .order_by(api_keys.c.created_at_ns.desc(), api_keys.c.key_id.desc())
            .limit(API_KEYS_LIST_MAX)
        )
        with self._transaction() as conn:
            return [_api_key_of(row) for row in conn.execute(query)]

    # --- account holders --------------------------------------------------------------------

    def set_account_holders(self, holders: Sequence[tuple[int, str]]) -> None:
        """Record who holds each ledger account, all or nothing; a holder, once set, never changes."""
        wanted, first_at = _checked_holders(holders)
        with self._transaction(write=True, conflict=lambda: None) as conn:
            principal_ids = sorted(set(wanted.values()))
            known = set(conn.scalars(select(principals.c.id).where(principals.c.id.in_(principal_ids))))
            for account_id, principal_id in wanted.items():
                if principal_id not in known:
                    field = f"holders[{first_at[account_id]}].principal_id"
                    raise NotFoundError(field, f"no principal {principal_id}")
            # Skip the accounts already held, then read every holder back: a holder set
            # by a concurrent call is seen here, so a clash cannot slip through.
            _insert_holders(conn, wanted)
            stored = _holders_of(conn, list(wanted))
            for account_id, principal_id in wanted.items():
                if stored.get(account_id) != principal_id:
                    raise ConflictError(
                        f"holders[{first_at[account_id]}].account_id",
                        f"account {account_id} is held by {stored.get(account_id)}",
                    )

    def set_account_holder_columns(self, account_ids: NDArray[Any], principal_ids: NDArray[Any]) -> None:
        """``set_account_holders`` for columns (account ids, principal ids): the same checks, a column at a time."""
        from tessera.store.holders import checked_holder_columns, record_holder_columns  # noqa: PLC0415 (numpy)

        ids, holders, first_at = checked_holder_columns(account_ids, principal_ids)
        with self._transaction(write=True, conflict=lambda: None) as conn:
            record_holder_columns(conn, ids, holders, first_at)

    def set_cycle_account_holder_columns(self, account_ids: NDArray[Any], principal_ids: NDArray[Any]) -> None:
        """``set_account_holder_columns`` for up to ``HOLDER_PASS_MAX``: a cycle.s (or a stretch), before they open.

        Checked whole before any write, then recorded in order of principal, a transaction
        a million or so (each table's pairs sorted by its key): not all or nothing across
        those. A refusal leaves the transactions before it recorded, as the caller would have
        them (a holder, once set, never changes).
        """
        from tessera.store.holders import (  # noqa: PLC0415 (numpy)
            PASS_PART_ROWS,
            by_principal,
            checked_holder_columns,
            record_holder_columns_part,
        )

        ids, holders, first_at = checked_holder_columns(account_ids, principal_ids, HOLDER_PASS_MAX)
        order = by_principal(holders)
        ids, holders, first_at = ids[order], holders[order], first_at[order]
        for start in range(0, len(ids), PASS_PART_ROWS):
            part = slice(start, start + PASS_PART_ROWS)
            with self._transaction(write=True, conflict=lambda: None) as conn:
                record_holder_columns_part(conn, ids[part], holders[part], first_at[part])

    def account_holders(self, account_ids: Sequence[int]) -> dict[int, str]:
        """The holder of each of ``account_ids`` that has one."""
        ids = _checked_account_ids(account_ids)
        if not ids:
            return {}
        with self._transaction() as conn:
            return _holders_of(conn, sorted(set(ids)))

    def accounts_held_by(self, principal_id: str, limit: int = 1000) -> list[int]:
        """The accounts a principal holds, in id order, at most ``limit``."""
        principal_id = _checked_principal_id(principal_id)
        limit = _checked_int(limit, "limit", 1, ACCOUNTS_LIST_MAX)
        with self._transaction() as conn:
            return list(
                conn.scalars(
                    select(holder_accounts.c.account_id)
                    .where(holder_accounts.c.principal_id == principal_id)
                    .order_by(holder_accounts.c.account_id)
                    .limit(limit)
                )
            )

    def accounts_of_organisation(self, organisation: str, limit: int = 1000) -> list[int]:
        """The accounts of an organisation (``organisation_of`` each holder), in id order, at most ``limit``.

        Those held by merchants acting for it, and, for ``org:<principal id>``, by that
        principal when it acts for no named organisation.
        """
        organisation = checked_organisation(organisation)
        limit = _checked_int(limit, "limit", 1, ACCOUNTS_LIST_MAX)
        holder = principals.c.organisation == organisation
        own_id = organisation[len(ORG_PREFIX) :]
        if _PRINCIPAL_ID.fullmatch(own_id):
            unlinked = principals.c.organisation.is_(None) & (principals.c.role != Role.citizen.value)
            holder = or_(holder, and_(principals.c.id == own_id, unlinked))
        query = (
            select(holder_accounts.c.account_id)
            .join(principals, principals.c.id == holder_accounts.c.principal_id)
            .where(holder)
            .order_by(holder_accounts.c.account_id)
            .limit(limit)
        )
        with self._transaction() as conn:
            return list(conn.scalars(query))

    # --- for the domain modules that keep their own tables ------------------------------------

    def transaction(
        self, write: bool = False, conflict: Conflict | None = None, *, durable: bool = True
    ) -> AbstractContextManager[Connection]:
        """One transaction on a pooled connection, for domain modules with tables of their own.

        Pass ``write=True`` for a transaction that writes (SQLite then takes the write lock
        up front). Driver faults come out as ``StoreError``. A broken constraint becomes
        what ``conflict`` returns, called once the transaction is rolled back so that it may
        look in the database (a ``ConflictError`` naming the field), or a ``StoreError`` when
        there is no ``conflict`` or it returns None: SQLAlchemy's ``IntegrityError`` never
        leaves the store.

        ``durable=False`` commits a write without waiting for the disk (SQLite in WAL mode:
        ``synchronous=NORMAL``; PostgreSQL: ``synchronous_commit = off``): it survives the
        process dying, may be lost with the machine (power, kernel), and never out of order,
        since the next durable commit makes it durable too. Only for what can be worked out
        again after such a loss (a redemption's outcome, from the ledger that holds its chain).
        """
        return self._transaction(write, conflict, durable)

    def failed(self, exc: DBAPIError) -> StoreError:
        """The ``StoreError`` for a driver fault, the password removed from its message."""
        return self._failed(exc)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    @contextmanager
    def exclusive(self, name: str, busy: Busy) -> Iterator[None]:
        """Hold the lock ``name`` across a long task of many transactions; ``busy()`` at once if another holds it.

        Every process sharing this database is excluded, and the lock dies with its holder
        (process or connection), so a task killed mid-way is taken up again at once (``locks.py``).
        """
        name = checked_lock_name(name)
        if self._closed:
            raise StoreClosedError("the store was closed")
        try:
            if self.dialect == "postgresql":
                with held_on_postgresql(self._engine, name, busy):
                    yield
            else:
                database = self._engine.url.database
                assert database, "a SQLite store is always a file (_parsed_url)"
                with held_on_sqlite(Path(database), name, busy):
                    yield
        except (DBAPIError, PoolTimeoutError) as exc:
            raise StoreError(f"cannot hold the lock {name!r} at {self.url_redacted}: {self._reason(exc)}") from exc

    # --- plumbing ---------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._transaction() as conn:
            if _current_revisions(conn) == (_head_revision(),):
                return  # the common case, answered without loading alembic or any migration script
        from alembic import command  # noqa: PLC0415
        from alembic.util import CommandError  # noqa: PLC0415

        config = alembic_config()
        with self._transaction(write=True) as conn:
            config.attributes["connection"] = conn
            try:
                command.upgrade(config, "head")
            except CommandError as exc:
                # Typically a database migrated by a newer Tessera, whose revision this one lacks.
                raise StoreError(f"cannot migrate the database at {self.url_redacted}: {exc}") from exc

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One connection for every transaction this thread opens inside: its reads share one transaction.

        A request that reads many registries (a till's: the outlet, its authorisation, the
        person, the programme) pays one checkout, BEGIN and COMMIT instead of one each. A write
        inside ends the shared read first and runs as its own transaction on the same connection
        (taking the write lock up front, as always); reads after it start a new one, so they see
        it. Nested scopes join the outer one; another thread never joins.
        """
        if self._closed:
            raise StoreClosedError("the store was closed")
        outer = _SHARED.get()
        if outer is not None and outer.store is self and outer.thread == threading.get_ident():
            yield
            return
        conn = self._connect()
        try:
            with conn:  # closing it rolls back the read left open: it wrote nothing
                token = _SHARED.set(Shared(self, threading.get_ident(), conn))
                try:
                    yield
                finally:
                    _SHARED.reset(token)
        except DBAPIError as exc:
            raise self._failed(exc) from exc

    def _connect(self) -> Connection:
        try:
            return self._engine.connect()
        except (DBAPIError, PoolTimeoutError) as exc:
            raise StoreError(f"cannot reach the database at {self.url_redacted}: {self._reason(exc)}") from exc

    @contextmanager
    def _transaction(
        self, write: bool = False, conflict: Conflict | None = None, durable: bool = True
    ) -> Iterator[Connection]:
        """One transaction on a pooled connection; driver faults come out as ``StoreError``.

        The one place SQLAlchemy's ``IntegrityError`` is translated (``inserted`` aside, which
        keeps the transaction going): into what ``conflict`` says, or a ``StoreError``.
        """
        if self._closed:
            raise StoreClosedError("the store was closed")
        shared = _SHARED.get()
        if shared is not None and shared.store is self and shared.thread == threading.get_ident():
            with shared_transaction(
                shared, write, conflict, self._failed, durable=durable, writer=self._one_writer
            ) as conn:
                yield conn
            return
        conn = self._connect()
        try:
            with conn:
                if write:
                    conn.execution_options(**{_WRITE: True, _LAZY: not durable})
                with self._one_writer() if write else nullcontext(), conn.begin():
                    yield conn
        except IntegrityError as exc:
            error = None if conflict is None else conflict()
            if error is None:
                raise self._failed(exc) from exc
            raise error from None
        except DBAPIError as exc:
            raise self._failed(exc) from exc

    def _one_writer(self) -> AbstractContextManager[None]:
        return one_writer(self._writer, SQLITE_BUSY_TIMEOUT_S)

    def _failed(self, exc: DBAPIError) -> StoreError:
        return StoreError(f"the database at {self.url_redacted} failed: {self._reason(exc)}")

    def _reason(self, exc: Exception) -> str:
        """The driver's first line, without the password should a driver ever echo it."""
        cause = getattr(exc, "orig", None) or exc
        lines = str(cause).strip().splitlines()
        reason = lines[0] if lines else type(cause).__name__
        return reason.replace(self._password, "***") if self._password else reason


# --- rows and arguments ---------------------------------------------------------------------


def inserted(conn: Connection, statement: Executable) -> bool:
    """Run one insert in a savepoint: False when it broke a unique constraint, the transaction still good.

    For inserts that draw a random key and draw again on a clash (a person's number, a virtual ID).
    """
    try:
        with conn.begin_nested():
            conn.execute(statement)
    except IntegrityError:
        return False
    return True


def _insert_holders(conn: Connection, wanted: dict[int, str]) -> None:
    """Insert the holders of accounts that have none yet, by principal and by account.

    A pair whose account another holds goes into ``holder_accounts`` alone: the caller reads
    ``account_holders`` back and refuses the clash, which rolls the pair back with the rest.
    """
    by_principal = sorted((p, a) for a, p in wanted.items())
    by_account = sorted(wanted.items())
    for table, pairs, key in (
        (holder_accounts, by_principal, ["principal_id", "account_id"]),
        (account_holders, [(p, a) for a, p in by_account], ["account_id"]),
    ):
        if conn.dialect.name == "postgresql":
            # One statement for the batch; psycopg's executemany would send one per row.
            source = select(
                func.unnest(bindparam("principal_ids", [p for p, _ in pairs], type_=postgresql.ARRAY(String))),
                func.unnest(bindparam("account_ids", [a for _, a in pairs], type_=postgresql.ARRAY(BigInteger))),
            )
            insert = postgresql.insert(table).from_select(["principal_id", "account_id"], source)
            conn.execute(insert.on_conflict_do_nothing(index_elements=key))
        else:
            rows = [{"account_id": a, "principal_id": p} for p, a in pairs]
            conn.execute(sqlite.insert(table).on_conflict_do_nothing(index_elements=key), rows)


def _holders_of(conn: Connection, account_ids: list[int]) -> dict[int, str]:
    column = account_holders.c.account_id
    if conn.dialect.name == "postgresql":
        # One array parameter instead of thousands: less to send, parse and plan.
        wanted = column == any_(bindparam("account_ids", account_ids, type_=postgresql.ARRAY(BigInteger)))
    else:
        wanted = column.in_(account_ids)
    query = select(column, account_holders.c.principal_id).where(wanted)
    return {account_id: principal_id for account_id, principal_id in conn.execute(query)}


def _principal_values(principal: Principal) -> dict[str, Any]:
    return {
        "id": principal.id,
        "name": principal.name,
        "role": principal.role.value,
        "agency": principal.agency,
        "subject": principal.subject or None,  # NULL, so that only real subjects are unique
        "created_at_ns": principal.created_at_ns,
        "disabled": principal.disabled,
        "organisation": principal.organisation or None,
        "display_name": principal.display_name or None,
    }


def _principal_of(row: Row[Any]) -> Principal:
    return Principal(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        agency=row.agency,
        subject=row.subject or "",
        created_at_ns=row.created_at_ns,
        disabled=bool(row.disabled),
        organisation=row.organisation or "",
        display_name=row.display_name or "",
    )


def _api_key_of(row: Row[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(row.key_id, row.principal_id, bytes(row.secret_hash), row.created_at_ns, row.revoked_at_ns)


def _checked_int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        shown = "2**63 - 1" if high == ID_LIMIT - 1 else str(high)
        raise InvalidInputError(field, f"must be an integer from {low} to {shown}, got {value!r}")
    return value


def _checked_principal_id(value: object, field: str = "principal_id") -> str:
    if not isinstance(value, str) or not _PRINCIPAL_ID.fullmatch(value):
        raise InvalidInputError(field, f"must be 'p_' and 16 hex digits, got {value!r:.40}")
    return value


def _checked_key_id(value: object) -> str:
    if not isinstance(value, str) or not _KEY_ID.fullmatch(value):
        raise InvalidInputError("key_id", f"must be 1-{KEY_ID_MAX} letters, digits or _.-")
    return value


def _checked_sequence(value: object, field: str) -> Sequence[Any]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes | bytearray):
        raise InvalidInputError(field, "must be a list")
    return value


def _checked_account_ids(value: object) -> list[int]:
    ids = _checked_sequence(value, "account_ids")
    check_batch_size(len(ids), "account_ids", least=0)
    return [_checked_int(v, f"account_ids[{i}]", 1, ID_LIMIT - 1) for i, v in enumerate(ids)]


def _checked_holders(value: object) -> tuple[dict[int, str], dict[int, int]]:
    """Account id to holder, and to where the caller first named it; one holder per account."""
    holders = _checked_sequence(value, "holders")
    check_batch_size(len(holders), "holders")
    wanted: dict[int, str] = {}
    first_at: dict[int, int] = {}
    for i, pair in enumerate(holders):
        if not isinstance(pair, Sequence) or isinstance(pair, str | bytes | bytearray) or len(pair) != _HOLDER_FIELDS:
            raise InvalidInputError(f"holders[{i}]", "must be a pair (account_id, principal_id)")
        account_id = _checked_int(pair[0], f"holders[{i}].account_id", 1, ID_LIMIT - 1)
        principal_id = _checked_principal_id(pair[1], f"holders[{i}].principal_id")
        if wanted.setdefault(account_id, principal_id) != principal_id:
            other = f"holders[{first_at[account_id]}]"
            raise InvalidInputError(f"holders[{i}].principal_id", f"account {account_id} has another holder at {other}")
        first_at.setdefault(account_id, i)
    return wanted, first_at
