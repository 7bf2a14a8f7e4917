"""Seeded generators shared by tests, benchmarks and the demo: same seed, same data."""

from __future__ import annotations

import datetime
import functools
import math
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from tessera.identity import numbers as numbers_module
from tessera.identity.enrolment import Submission
from tessera.identity.templates import FACE_DIMS, FINGER_DIMS, FINGERS_MAX, Templates, checked_templates
from tessera.ledger.records import ACCOUNT_DTYPE, BATCH_SIZE_MAX, TRANSFER_DTYPE, AccountFlags

ISSUER_ID = 1
WALLET_CODE = 2
ISSUER_CODE = 1
TRANSFER_CODE = 1

Distribution = Literal["uniform", "zipf"]


def packed_accounts(
    first_id: int, count: int, *, ledger: int = 1, code: int = WALLET_CODE, flags: int = 0
) -> npt.NDArray[np.void]:
    """``count`` account records with consecutive ids from ``first_id``."""
    records = np.zeros(count, dtype=ACCOUNT_DTYPE)
    records["id"] = np.arange(first_id, first_id + count, dtype=np.uint64)
    records["ledger"] = ledger
    records["code"] = code
    records["flags"] = flags
    return records


def wallet_batches(count: int, *, ledger: int = 1) -> Iterator[npt.NDArray[np.void]]:
    """The issuer (id 1) and ``count`` wallets (ids 2..count+1) that cannot go negative."""
    yield packed_accounts(ISSUER_ID, 1, ledger=ledger, code=ISSUER_CODE)
    flags = int(AccountFlags.debits_must_not_exceed_credits)
    for start in range(0, count, BATCH_SIZE_MAX):
        n = min(BATCH_SIZE_MAX, count - start)
        yield packed_accounts(2 + start, n, ledger=ledger, flags=flags)


def packed_transfers(
    ids: npt.NDArray[np.uint64],
    debit: npt.NDArray[np.uint64],
    credit: npt.NDArray[np.uint64],
    amount: npt.NDArray[np.uint64],
    *,
    ledger: int = 1,
    code: int = TRANSFER_CODE,
) -> npt.NDArray[np.void]:
    records = np.zeros(len(ids), dtype=TRANSFER_DTYPE)
    records["id"] = ids
    records["debit_account_id"] = debit
    records["credit_account_id"] = credit
    records["amount"] = amount
    records["ledger"] = ledger
    records["code"] = code
    return records


def issuance_batches(
    wallets: int, amount: int, *, first_transfer_id: int, ledger: int = 1
) -> Iterator[npt.NDArray[np.void]]:
    """One transfer from the issuer to each wallet."""
    for start in range(0, wallets, BATCH_SIZE_MAX):
        n = min(BATCH_SIZE_MAX, wallets - start)
        ids = np.arange(first_transfer_id + start, first_transfer_id + start + n, dtype=np.uint64)
        credit = np.arange(2 + start, 2 + start + n, dtype=np.uint64)
        yield packed_transfers(
            ids, np.full(n, ISSUER_ID, np.uint64), credit, np.full(n, amount, np.uint64), ledger=ledger
        )


def _account_draws(
    rng: np.random.Generator, wallets: int, n: int, distribution: Distribution
) -> npt.NDArray[np.uint64]:
    # Zipf over ranks, folded into range: a few wallets (merchants) take most traffic.
    index = rng.integers(0, wallets, size=n) if distribution == "uniform" else (rng.zipf(1.2, size=n) - 1) % wallets
    return (index + 2).astype(np.uint64)


def payment_batches(
    seed: int,
    wallets: int,
    count: int,
    *,
    batch_size: int = BATCH_SIZE_MAX,
    distribution: Distribution = "uniform",
    first_transfer_id: int,
    amount_max: int = 100,
    ledger: int = 1,
) -> list[npt.NDArray[np.void]]:
    """``count`` wallet-to-wallet payments in batches, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    debit = _account_draws(rng, wallets, count, distribution)
    credit = _account_draws(rng, wallets, count, distribution)
    same = debit == credit
    credit[same] = (credit[same] - 2 + 1) % wallets + 2  # never pay yourself
    amount = rng.integers(1, amount_max + 1, size=count).astype(np.uint64)
    ids = np.arange(first_transfer_id, first_transfer_id + count, dtype=np.uint64)
    records = packed_transfers(ids, debit, credit, amount, ledger=ledger)
    return [records[i : i + batch_size] for i in range(0, count, batch_size)]


def progress(message: str) -> None:
    """A bench's progress line: stderr, so that stdout carries only the JSON result."""
    print(message, file=sys.stderr, flush=True)


def filesystem_of(path: Path) -> str:
    """The filesystem type under ``path``, for a bench's conditions: fsync on tmpfs promises nothing."""
    try:
        out = subprocess.run(["df", "--output=fstype", str(path)], capture_output=True, text=True, check=True)
        return out.stdout.split()[-1]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


# -- synthetic people and biometric templates ------------------------------------------
#
# Each person is a base vector per modality; each capture is the base plus noise whose
# size varies from capture to capture (image quality), renormalised. Two modes:
#
# - easy: bases are isotropic, noise variance 0.25..0.42 of the base's, so two
#   captures of one person score cosine 0.65..0.83 (median 0.75) and strangers 0 ± 0.044;
# - clustered: bases are drawn around SYNTHETIC_CLUSTERS centres (people who look alike),
#   each cluster with its own tightness (cosine 0.20..0.55 between two of its members'
#   bases), and capture noise varies more (0.1..1.0): genuine scores spread over
#   0.45..0.91 and strangers in a tight cluster reach 0.5, so the two overlap. Finger
#   bases are drawn around five pattern classes (arch, tented arch, left loop, right
#   loop, whorl) at cosine 0.2: look-alike faces do not share fingerprints.
#
# Vectors are generated per block of SYNTHETIC_BLOCK people from their own seed, so a
# person's templates depend only on (seed, person, capture), whatever else is asked for.

SYNTHETIC_BLOCK = 256
SYNTHETIC_CLUSTERS = 1024
# Index fingers first, then thumbs: what two- and four-print devices take.
FINGER_ORDER = (2, 7, 1, 6, 3, 8, 4, 9, 5, 10)
# Stream numbers: each kind of draw has its own generator, so adding one changes no other.
_FACE, _FINGERS, _PLAN, _PEOPLE, _CENTRES, _NUMBERS = range(1, 7)


@dataclass(frozen=True, slots=True)
class _Modality:
    stream: int
    dims: int
    per_person: int
    clusters: int
    noise: tuple[float, float]  # capture noise variance, relative to the base's: low, high
    noise_clustered: tuple[float, float]


_FACE_MODALITY = _Modality(_FACE, FACE_DIMS, 1, SYNTHETIC_CLUSTERS, (0.25, 0.42), (0.1, 1.0))
_FINGER_MODALITY = _Modality(_FINGERS, FINGER_DIMS, FINGERS_MAX, 5, (0.2, 0.6), (0.2, 0.6))


@functools.cache
def _gaussian_levels() -> npt.NDArray[np.float32]:
    # 256 equiprobable quantiles of N(0, 1): a byte of randomness becomes a Gaussian
    # value by table look-up, four times faster here than standard_normal, and at 512
    # dims indistinguishable from it for cosines and for sign bits (no value is 0).
    normal = statistics.NormalDist()
    levels = np.array([normal.inv_cdf((i + 0.5) / 256) for i in range(256)], np.float64)
    table: npt.NDArray[np.float32] = (levels / np.sqrt(np.mean(levels**2))).astype(np.float32)
    table.flags.writeable = False
    return table


def _gaussian(rng: np.random.Generator, shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    draws = np.frombuffer(rng.bytes(math.prod(shape)), np.uint8).reshape(shape)
    return _gaussian_levels()[draws]


def _unit_rows(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.sqrt(np.einsum("...i,...i->...", x, x))
    x /= norms[..., None]
    return x


@functools.cache
def _centres(seed: int, modality: _Modality) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Cluster centres (unit) and each cluster's tightness: the cosine between two members' bases."""
    rng = np.random.default_rng([seed, _CENTRES, modality.stream])
    centres = _unit_rows(_gaussian(rng, (modality.clusters, modality.dims)))
    if modality.stream == _FINGERS:
        tightness = np.full(modality.clusters, 0.2, np.float32)
    else:
        tightness = rng.uniform(0.20, 0.55, modality.clusters).astype(np.float32)
    centres.flags.writeable = tightness.flags.writeable = False  # cached: shared by every later call
    return centres, tightness


def _block_captures(
    seed: int, block: int, capture: int, clustered: bool, modality: _Modality
) -> npt.NDArray[np.float32]:
    """Capture ``capture`` of every person in one block: (SYNTHETIC_BLOCK, per_person, dims), unit rows."""
    rng = np.random.default_rng([seed, modality.stream, block])
    shape = (SYNTHETIC_BLOCK, modality.per_person, modality.dims)
    base = _unit_rows(_gaussian(rng, shape))
    if clustered:
        centres, tightness = _centres(seed, modality)
        cluster = rng.integers(0, len(centres), shape[:2])
        a2 = tightness[cluster][..., None]
        base = _unit_rows(np.sqrt(a2) * centres[cluster] + np.sqrt(np.float32(1) - a2) * base)
    noise_rng = np.random.default_rng([seed, modality.stream, block, capture + 1])
    low, high = modality.noise_clustered if clustered else modality.noise
    scale = np.sqrt(noise_rng.uniform(low, high, (*shape[:2], 1)) / modality.dims).astype(np.float32)
    return _unit_rows(base + scale * _gaussian(noise_rng, shape))


def _by_block(
    seed: int,
    people: range | Sequence[int] | npt.NDArray[np.int64],
    capture: int,
    clustered: bool,
    modality: _Modality,
) -> npt.NDArray[np.float32]:
    index = np.asarray(people, dtype=np.int64)
    if index.ndim != 1 or (index.size and index.min() < 0) or capture < 0:
        raise ValueError("people must be a flat list of person indexes >= 0 and capture >= 0")
    out = np.empty((len(index), modality.per_person, modality.dims), np.float32)
    blocks = index // SYNTHETIC_BLOCK
    for block in np.unique(blocks).tolist():
        rows = np.flatnonzero(blocks == block)
        made = _block_captures(seed, block, capture, clustered, modality)
        out[rows] = made[index[rows] - block * SYNTHETIC_BLOCK]
    return out


def synthetic_faces(
    seed: int, people: range | Sequence[int] | npt.NDArray[np.int64], *, capture: int = 0, clustered: bool = False
) -> npt.NDArray[np.float32]:
    """Face capture number ``capture`` of each person in ``people``: (len, FACE_DIMS) float32, unit rows.

    The array form, for benches. Capture 0 is what a person enrols with; 1, 2 ... are
    later captures of the same person.
    """
    return _by_block(seed, people, capture, clustered, _FACE_MODALITY)[:, 0]


def synthetic_fingers(
    seed: int,
    people: range | Sequence[int] | npt.NDArray[np.int64],
    *,
    capture: int = 0,
    clustered: bool = False,
) -> npt.NDArray[np.float32]:
    """Finger templates of capture ``capture``: (len, FINGERS_MAX, FINGER_DIMS), row ``p - 1`` is position p."""
    return _by_block(seed, people, capture, clustered, _FINGER_MODALITY)


def synthetic_numbers(seed: int, count: int) -> list[str]:
    """``count`` distinct well-formed Tessera numbers (Verhoeff check digit), the same for the same seed.

    Fast enough for a million: the bodies are an affine permutation of 0..9·10^10 and the
    check digits are computed a column at a time.
    """
    span = 9 * 10**10  # 11-digit bodies that do not start with 0
    rng = np.random.default_rng([seed, _NUMBERS])
    stride = int(rng.integers(10**9, 10**10)) * 2 + 1
    while math.gcd(stride, span) != 1:
        stride += 2
    offset = int(rng.integers(span))
    index = np.arange(count, dtype=np.int64)
    bodies = 10**10 + (index * stride % span + offset) % span  # distinct because stride is prime to span
    digits = (bodies[:, None] // 10 ** np.arange(10, -1, -1, dtype=np.int64)) % 10
    # numbers.py's own Verhoeff tables, so that the two can never disagree.
    d, p, inv = (np.array(t, np.int64) for t in (numbers_module._D, numbers_module._P, numbers_module._INV))
    c = np.zeros(count, np.int64)
    for i in range(11):  # from the rightmost body digit, as check_digit does
        c = d[c, p[(i + 1) % 8][digits[:, 10 - i]]]
    return [f"{b}{k}" for b, k in zip(bodies.tolist(), inv[c].tolist(), strict=True)]


@dataclass(frozen=True, slots=True)
class SyntheticEnrolment:
    """One submission to enrolment: who the generator made it for, and whether it is a repeat."""

    request_id: str  # unique per submission
    demographics: dict[str, object]  # name, other_names, birth_date, sex, address, household
    templates: Templates
    person: int  # the true identity: submissions of one person share it
    duplicate_of: int | None  # the index of this person's first submission when this is a repeat

    def submission(self) -> Submission:
        """As a capture station sends it to ``Enrolments.submit``."""
        return Submission(self.request_id, self.demographics, self.templates.face, list(self.templates.fingers))


_GIVEN = {
    "latin": ("Amina", "José", "María", "Kwame", "Fatou", "Luís", "Zoë", "Nguyễn Thị", "Chiara", "Oluwaseun"),
    "cyrillic": ("Анна", "Иван", "Ольга", "Дмитрий", "Айгерим", "Тимур", "Наталья", "Богдан"),
    "arabic": ("فاطمة", "محمد", "عائشة", "علي", "يوسف", "مريم", "خديجة", "عمر"),
    "devanagari": ("अनीता", "राजेश", "प्रिया", "सुनील", "कविता", "अमित", "पूजा", "विजय"),
    "ethiopic": ("አበበ", "ሰላም", "ተስፋዬ", "መሰረት", "ሄኖክ", "ትዕግስት"),
    "han": ("芳", "伟", "娜", "敏", "静", "磊"),
}
_FAMILY = {
    "latin": ("Okafor", "Silva", "Diallo", "Kowalski", "Mensah", "García", "Haddad", "Ødegård", "Traoré", "O'Neill"),
    "cyrillic": ("Иванова", "Петров", "Смирнова", "Нурланов", "Ковальчук", "Ким"),
    "arabic": ("الحسن", "حداد", "منصور", "العلي", "سليمان", "الزين"),
    "devanagari": ("शर्मा", "वर्मा", "पटेल", "सिंह", "गुप्ता", "यादव"),
    "ethiopic": ("በቀለ", "ታደሰ", "ገብረ", "ወልዴ"),
    "han": ("王", "李", "张", "刘", "陈"),
}
_STREETS = ("Market Road", "Station Street", "Rue de la Paix", "улица Ленина", "شارع الملك", "गांधी मार्ग", "Main St")
_TOWNS = ("Kisumu", "Dakar", "Almaty", "Tunis", "Pune", "Gondar", "Kraków", "Recife", "Chengdu")
_BIRTH_FIRST = datetime.date(1940, 1, 1).toordinal()
_BIRTH_LAST = datetime.date(2025, 12, 31).toordinal()


def _name(rng: np.random.Generator) -> str:
    script = list(_GIVEN)[int(rng.integers(len(_GIVEN)))]
    given = _GIVEN[script][int(rng.integers(len(_GIVEN[script])))]
    family = _FAMILY[script][int(rng.integers(len(_FAMILY[script])))]
    return family + given if script == "han" else f"{given} {family}"  # Han names: family first, no space


def _demographics(rng: np.random.Generator, index: int, first: dict[str, object] | None = None) -> dict[str, object]:
    """A person's demographics; for a repeat (``first`` given) another name and often another birth date."""
    birth = _BIRTH_FIRST + int(rng.integers(_BIRTH_LAST - _BIRTH_FIRST + 1))
    sex = ("F", "M", "X")[int(rng.choice(3, p=[0.495, 0.495, 0.01]))]
    if first is not None:
        sex = str(first["sex"])
        claimed = datetime.date.fromisoformat(str(first["birth_date"])).toordinal()
        birth = claimed if rng.random() < 0.5 else min(_BIRTH_LAST, claimed + int(rng.integers(-1500, 1500)))
    return {
        "name": _name(rng),
        "other_names": [_name(rng) for _ in range(int(rng.choice(3, p=[0.7, 0.25, 0.05])))],
        "birth_date": datetime.date.fromordinal(birth).isoformat(),
        "sex": sex,
        "address": (
            f"{int(rng.integers(1, 300))} {_STREETS[int(rng.integers(len(_STREETS)))]}, "
            f"{_TOWNS[int(rng.integers(len(_TOWNS)))]}"
        ),
        # A household is shared with about two earlier submissions on average.
        "household": "" if rng.random() < 0.2 else f"hh-{int(rng.integers(1 + index // 3)):07d}",
    }


def synthetic_enrolments(
    seed: int, count: int, *, duplicate_share: float = 0.01, clustered: bool = False, fingers: int = 0
) -> Iterator[SyntheticEnrolment]:
    """``count`` enrolment submissions; about ``duplicate_share`` of them repeat an earlier person.

    A repeat comes under another name (and half the time another birth date) with a new
    capture of the same person. ``fingers`` (0..10) finger templates come with each
    submission, at the positions of ``FINGER_ORDER``. Same seed, same submissions.
    """
    if count < 0 or not 0 <= duplicate_share < 1 or not 0 <= fingers <= FINGERS_MAX:
        raise ValueError("count >= 0, 0 <= duplicate_share < 1 and 0 <= fingers <= 10")
    person_of = np.empty(count, np.int64)
    first_of: dict[int, int] = {}  # person -> their first submission
    captures: dict[int, int] = {}  # person -> captures taken so far, for people who came back
    window = 1024
    for start in range(0, count, window):
        n = min(window, count - start)
        # Each window draws its own full-size plan, so the first submissions do not depend on count.
        plan = np.random.default_rng([seed, _PLAN, start])
        repeat = plan.random(window)[:n] < duplicate_share
        earlier = plan.integers(0, np.maximum(np.arange(start, start + window), 1))[:n]
        people, capture_of = np.empty(n, np.int64), np.zeros(n, np.int64)
        next_person = len(first_of)
        for i in range(n):
            j = start + i
            if repeat[i] and j > 0:
                person = int(person_of[earlier[i]])
                captures[person] = captures.get(person, 1) + 1
                capture_of[i] = captures[person] - 1
            else:
                person = next_person
                next_person += 1
                first_of[person] = j
            people[i] = person_of[j] = person
        faces = np.empty((n, FACE_DIMS), np.float32)
        prints = np.empty((n, FINGERS_MAX, FINGER_DIMS), np.float32) if fingers else None
        for c in np.unique(capture_of).tolist():
            rows = np.flatnonzero(capture_of == c)
            faces[rows] = synthetic_faces(seed, people[rows], capture=c, clustered=clustered)
            if prints is not None:
                prints[rows] = synthetic_fingers(seed, people[rows], capture=c, clustered=clustered)
        for i in range(n):
            j, person = start + i, int(people[i])
            rng = np.random.default_rng([seed, _PEOPLE, j])
            first = first_of[person]
            repeat_of = None if first == j else first
            chosen = FINGER_ORDER[:fingers]
            templates = checked_templates(
                faces[i], [(p, prints[i, p - 1]) for p in chosen] if prints is not None else ()
            )
            if repeat_of is None:
                demographics = _demographics(rng, j)
            else:
                # The first submission's demographics, regenerated from its own seed.
                claimed = _demographics(np.random.default_rng([seed, _PEOPLE, repeat_of]), repeat_of)
                demographics = _demographics(rng, j, claimed)
            yield SyntheticEnrolment(f"enrol-{seed}-{j:09d}", demographics, templates, person, repeat_of)
