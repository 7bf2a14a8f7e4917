"""Tessera's exceptions: one root, stable codes, documented here and nowhere else.

Business refusals (a transfer over the balance, a frozen account) are *values*: result
statuses, listed in ``docs/ledger.md``. Exceptions are for bad calls, bugs and broken
infrastructure::

    TesseraError                      tessera             (the root; codes below)
    ├── InvalidInputError             invalid_input       (also a ValueError)
    │   ├── BatchSizeError            batch_size          (a batch empty or over its count: HTTP 422)
    │   ├── BodySizeError             body_size           (a request body over its bytes: HTTP 413)
    │   ├── InvalidGrantError         invalid_grant       (an OAuth code unknown, used, expired or not matching)
    │   └── ProtectedCategoryError    protected_category  (a rule or event type touches a forbidden data category)
    ├── NotFoundError                 not_found           (a named record does not exist)
    ├── ConflictError                 conflict            (a unique name or a fixed fact is taken)
    │   ├── IdempotencyKeyReusedError idempotency_key_reused (an Idempotency-Key sent again with another body)
    │   └── PaymentRequestClosedError payment_request_closed (a payment request already paid, or expired)
    ├── PaymentRefusedError           payment_refused     (the ledger refused a payment: funds, a freeze, a purpose)
    ├── RedemptionRefusedError        redemption_refused  (a shop's redemption refused: a ``reason``, words to read out)
    ├── AccessError                   access              (the caller may not do this)
    │   ├── UnauthenticatedError      unauthenticated     (no valid credentials: HTTP 401)
    │   ├── ForbiddenError            forbidden           (the role or ownership does not allow it: 403)
    │   ├── PurposeRequiredError      purpose_required    (an officer read someone's data without a purpose)
    │   ├── RateLimitedError          rate_limited        (too many calls; retry after a pause: 429)
    │   └── CredentialLockedError     credential_locked   (too many wrong PINs; wait, or see an officer)
    ├── StoreError                    store               (the registry database cannot be reached)
    │   └── StoreClosedError          store_closed        (the Store handle was closed)
    ├── LogLockedError                log_locked          (another process has the access log open)
    ├── GalleryLockedError            gallery_locked      (another process has the biometric gallery open)
    ├── EnforcementClosedError        enforcement_closed  (tessera.rules.check with no enforcement index open)
    └── LedgerError                   ledger
        ├── LedgerClosedError         ledger_closed
        ├── LedgerFailedError         ledger_failed       (an fsync failed: reopen to recover)
        ├── LedgerLockedError         ledger_locked       (another process holds the directory)
        └── CorruptionError           corruption          (names the file and byte offset)
            └── SnapshotCorruptError  snapshot_corrupt

Foreign exceptions (OSError from the journal) are translated at the edge into the most
specific of these.
"""

from __future__ import annotations


class TesseraError(Exception):
    """Root of every error Tessera raises on purpose."""

    code = "tessera"


class InvalidInputError(TesseraError, ValueError):
    """A call's argument is malformed; the message names the field."""

    code = "invalid_input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class BatchSizeError(InvalidInputError):
    """A batch is empty or holds more items than its limit (``tessera.limits.check_batch_size``)."""

    code = "batch_size"


class BodySizeError(InvalidInputError):
    """A request body is longer, in bytes, than its route takes; raised by the API alone, before the body is read."""

    code = "body_size"


class InvalidGrantError(InvalidInputError):
    """An OAuth authorization code is unknown, used, expired, or its PKCE verifier or redirect URI does not match."""

    code = "invalid_grant"


class ProtectedCategoryError(InvalidInputError):
    """An event type or rule touches a data category it may not: names where, the field and the category."""

    code = "protected_category"

    def __init__(self, where: str, field: str, category: str, reason: str = "which may not be used here") -> None:
        super().__init__(f"{where}.{field}", f"uses the protected category {category!r}, {reason}")
        self.where = where
        self.category = category


class NotFoundError(TesseraError):
    """The record a call names does not exist."""

    code = "not_found"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ConflictError(TesseraError):
    """A unique name is taken, or a fact that never changes would change."""

    code = "conflict"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class IdempotencyKeyReusedError(ConflictError):
    """An ``Idempotency-Key`` came back with a different request than the one it was first sent with."""

    code = "idempotency_key_reused"


class PaymentRequestClosedError(ConflictError):
    """A payment request cannot be paid: it is paid already, being paid by another payment, or expired."""

    code = "payment_request_closed"


class PaymentRefusedError(TesseraError):
    """The ledger refused a payment; ``status`` is its stable refusal (``exceeds_credits``, ``account_frozen``...)."""

    code = "payment_refused"

    def __init__(self, field: str, status: str, message: str) -> None:
        super().__init__(f"{field}: {message} ({status})")
        self.field = field
        self.status = status


class RedemptionRefusedError(TesseraError):
    """A redemption at a shop was refused; ``reason`` is stable (``quota_used_up``...), the message is read out.

    ``params`` carry what the words say (what is left, until when), so a till or a portal can say it its own way.
    """

    code = "redemption_refused"

    def __init__(self, field: str, reason: str, message: str, params: dict[str, str] | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = reason
        self.words = message
        self.params = dict(params or {})
        self.holder: str | None = None  # whose entitlement the refusal told about (for the access log)


class AccessError(TesseraError):
    """The caller may not do what it asked."""

    code = "access"


class UnauthenticatedError(AccessError):
    """No credentials, or credentials that are unknown, revoked or malformed."""

    code = "unauthenticated"


class ForbiddenError(AccessError):
    """The caller is known but its role or ownership does not allow the action."""

    code = "forbidden"


class PurposeRequiredError(AccessError):
    """An officer asked for someone else's data without stating a purpose."""

    code = "purpose_required"


class RateLimitedError(AccessError):
    """The caller has used up its allowance; ``retry_after_s`` says when to try again."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CredentialLockedError(AccessError):
    """A credential is locked after too many wrong attempts; ``retry_after_s`` says until when."""

    code = "credential_locked"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreError(TesseraError):
    """The registry database cannot be reached or refused the statement."""

    code = "store"


class StoreClosedError(StoreError):
    """The store handle was closed."""

    code = "store_closed"


class LogLockedError(TesseraError):
    """Another process has the access log directory open."""

    code = "log_locked"


class GalleryLockedError(TesseraError):
    """Another process has the biometric gallery directory open."""

    code = "gallery_locked"


class EnforcementClosedError(TesseraError):
    """``tessera.rules.check`` was called with no enforcement index open in the process."""

    code = "enforcement_closed"


class LedgerError(TesseraError):
    """The ledger cannot serve the call."""

    code = "ledger"


class LedgerClosedError(LedgerError):
    """The ledger handle was closed."""

    code = "ledger_closed"


class LedgerFailedError(LedgerError):
    """A journal write failed; memory may be ahead of disk, so the handle refuses all calls."""

    code = "ledger_failed"


class LedgerLockedError(LedgerError):
    """Another process has the ledger directory open."""

    code = "ledger_locked"


class CorruptionError(LedgerError):
    """Stored data failed its checksum somewhere other than a torn tail."""

    code = "corruption"

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"{path} at byte {offset}: {reason}")
        self.path = path
        self.offset = offset


class SnapshotCorruptError(CorruptionError):
    """A snapshot file failed its checksum or the checks of what it holds (file, offset and field named)."""

    code = "snapshot_corrupt"


ERROR_CODES: dict[str, type[TesseraError]] = {
    cls.code: cls
    for cls in (
        TesseraError,
        InvalidInputError,
        BatchSizeError,
        BodySizeError,
        InvalidGrantError,
        ProtectedCategoryError,
        NotFoundError,
        ConflictError,
        IdempotencyKeyReusedError,
        PaymentRequestClosedError,
        PaymentRefusedError,
        RedemptionRefusedError,
        AccessError,
        UnauthenticatedError,
        ForbiddenError,
        PurposeRequiredError,
        RateLimitedError,
        CredentialLockedError,
        StoreError,
        StoreClosedError,
        LogLockedError,
        GalleryLockedError,
        EnforcementClosedError,
        LedgerError,
        LedgerClosedError,
        LedgerFailedError,
        LedgerLockedError,
        CorruptionError,
        SnapshotCorruptError,
    )
}
