# Type stub for the face index's compiled full scan (_hamming.c); see tessera.identity.hamming.
from typing import Any, TypeAlias

import numpy as np
from typing_extensions import Buffer as _RawBuffer

# numpy arrays only declare the buffer protocol to type checkers on Python >= 3.12.
Buffer: TypeAlias = _RawBuffer | np.ndarray[Any, Any]

instructions: str  # "avx2", or "portable" where the CPU has no AVX2
K_MAX: int
PAD_DISTANCE: int
CHUNK_CODES: int
THREADS_MAX: int

def nearest(
    codes: Buffer,
    queries: Buffer,
    k: int,
    start: int,
    stop: int,
    distances: Buffer,
    rows: Buffer,
    /,
    *,
    threads: int = 1,
    portable: bool = False,
) -> None: ...
