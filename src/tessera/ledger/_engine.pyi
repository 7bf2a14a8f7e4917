# Type stub for the compiled apply loop (_engine.c). Buffers are numpy arrays owned by State.
from typing import Any, TypeAlias

import numpy as np
from typing_extensions import Buffer as _RawBuffer

# numpy arrays only declare the buffer protocol to type checkers on Python >= 3.12.
Buffer: TypeAlias = _RawBuffer | np.ndarray[Any, Any]

def create_accounts(
    accounts: Buffer,
    account_last: Buffer,
    account_index: Buffer,
    counts: Buffer,
    batch: Buffer,
    results: Buffer,
    timestamp: int,
) -> int: ...
def create_transfers(
    accounts: Buffer,
    account_last: Buffer,
    account_index: Buffer,
    transfers: Buffer,
    meta: Buffer,
    transfer_index: Buffer,
    heap: Buffer,
    counts: Buffer,
    batch: Buffer,
    results: Buffer,
    timestamp: int,
) -> tuple[int, int]: ...
def lookup(index: Buffer, ids: Buffer, out: Buffer) -> int: ...
def build_index(index: Buffer, ids: Buffer) -> None: ...
def index_probes(index: Buffer) -> int: ...
def account_transfers(
    account_last: Buffer,
    meta: Buffer,
    transfers: Buffer,
    slot: int,
    account_id: int,
    limit: int,
    reverse: bool,
    out: Buffer,
) -> int: ...
def checksum(data: Buffer) -> int: ...
def populate(buffer: Buffer) -> bool: ...
