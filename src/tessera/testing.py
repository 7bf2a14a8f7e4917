"""Seeded generators shared by tests, benchmarks and the demo: same seed, same data."""

from __future__ import annotations

import datetime
import functools
import math
import statistics
import subprocess
import sys
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from tessera.identity import FACE_DIMS, FINGER_DIMS, FINGERS_MAX, Submission, Templates, check_digits, checked_templates
from tessera.ledger import ACCOUNT_DTYPE, TRANSFER_DTYPE, AccountFlags
from tessera.limits import BATCH_SIZE_MAX

if TYPE_CHECKING:
    from tessera.rules import ListedEntity
    from tessera.store import Store

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
    # identity's own Verhoeff, so that the two can never disagree.
    return [f"{b}{k}" for b, k in zip(bodies.tolist(), check_digits(digits).tolist(), strict=True)]


@dataclass(frozen=True, slots=True)
class SyntheticEnrolment:
    """One submission to enrolment: who the generator made it for, and whether it is a repeat."""

    request_id: str  # unique per submission
    demographics: dict[str, object]  # name, other_names, birth_date, sex, address
    templates: Templates
    person: int  # the true identity: submissions of one person share it
    duplicate_of: int | None  # the index of this person's first submission when this is a repeat
    # Who the applicant lives with: submissions with the same label make a household once
    # enrolled (tessera.identity.Households); "" for none. Never sent with the demographics.
    household: str = ""

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
_SAME_BIRTH = 0.5  # a repeat claims the first birth date half the time, else one up to four years off
_NO_HOUSEHOLD_SHARE = 0.2  # a fifth of submissions name no household


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
        birth = claimed if rng.random() < _SAME_BIRTH else min(_BIRTH_LAST, claimed + int(rng.integers(-1500, 1500)))
    return {
        "name": _name(rng),
        "other_names": [_name(rng) for _ in range(int(rng.choice(3, p=[0.7, 0.25, 0.05])))],
        "birth_date": datetime.date.fromordinal(birth).isoformat(),
        "sex": sex,
        "address": (
            f"{int(rng.integers(1, 300))} {_STREETS[int(rng.integers(len(_STREETS)))]}, "
            f"{_TOWNS[int(rng.integers(len(_TOWNS)))]}"
        ),
        # A household is shared with about two earlier submissions on average (taken out by the caller).
        "household": "" if rng.random() < _NO_HOUSEHOLD_SHARE else f"hh-{int(rng.integers(1 + index // 3)):07d}",
    }


def synthetic_demographics(seed: int, count: int) -> list[dict[str, object]]:
    """``count`` people's demographics as enrolment takes them (no templates), the same for the same seed.

    Names in six scripts, with other names for about three in ten: a registry to screen.
    """
    return [_demographics(np.random.default_rng([seed, _PEOPLE, i]), i) for i in range(count)]


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
            household = str(demographics.pop("household"))
            yield SyntheticEnrolment(f"enrol-{seed}-{j:09d}", demographics, templates, person, repeat_of, household)


# --- sanctions screening: synthetic listings and labelled queries ---------------------------------

_SCREEN_GIVEN = (
    "Ahmad", "Ali", "Omar", "Yusuf", "Khalid", "Hassan", "Ibrahim", "Mustafa", "Tariq", "Karim", "Samir", "Nabil",
    "Faisal", "Hamza", "Bilal", "Reza", "Dariush", "Farhad", "Mehdi", "Javad", "Ivan", "Sergei", "Dmitri", "Oleg",
    "Andrei", "Nikolai", "Pavel", "Yuri", "Viktor", "Boris", "Olga", "Irina", "Natalia", "Svetlana", "Elena",
    "Tatiana", "Carlos", "Jorge", "Luis", "Miguel", "Rafael", "Alejandro", "Diego", "Fernando", "Ricardo", "Marta",
    "Lucia", "Carmen", "Chol", "Myong", "Song", "Hyon", "Jin", "Min", "Wei", "Jian", "Ming", "Hui", "Li", "Kwame",
    "Kofi", "Amadou", "Moussa", "Ibrahima", "Fatima", "Aisha", "Mariam", "Zainab", "Amina", "Leila", "Yasmin",
    "Grace", "Peter", "John", "Michael", "Anna", "Sofia", "Thomas", "Daniel", "Emmanuel", "Joseph", "Samuel",
)  # fmt: skip
_SCREEN_FAMILY = (
    "Haddad", "Mansour", "Nasser", "Khoury", "Saleh", "Darwish", "Qureshi", "Siddiqui", "Rahimi", "Karimi",
    "Hosseini", "Tehrani", "Farahani", "Petrov", "Ivanov", "Smirnov", "Volkov", "Sokolov", "Morozov", "Lebedev",
    "Kozlov", "Novikov", "Fedorov", "Orlov", "Gonzalez", "Ramirez", "Herrera", "Castillo", "Mendoza", "Vargas",
    "Ortega", "Delgado", "Navarro", "Pak", "Ri", "Choe", "Kang", "Jang", "Zhang", "Wang", "Liu", "Chen", "Zhao",
    "Huang", "Okafor", "Mensah", "Diallo", "Traore", "Keita", "Coulibaly", "Ndiaye", "Mwangi", "Otieno",
    "Kowalski", "Nowak", "Schmidt", "Meyer", "Rossi", "Bianchi", "Papadopoulos", "Yilmaz", "Demir", "Aydin",
)  # fmt: skip
_SCREEN_ORG_WORDS = (
    "Global", "Trading", "Petroleum", "Shipping", "Logistics", "Industrial", "Star", "Ocean", "Eastern", "Pacific",
    "Golden", "Crescent", "Atlas", "Meridian", "Falcon", "Horizon", "Summit", "United", "General", "Technical",
)  # fmt: skip
_SCREEN_ORG_FORMS = ("LLC", "Ltd", "Co", "Company", "Group", "FZE", "JSC", "SA", "Corporation", "Holding")
_SYLLABLES = (
    "ka",
    "ra",
    "mo",
    "ti",
    "sa",
    "le",
    "no",
    "bu",
    "da",
    "ve",
    "zi",
    "ha",
    "ku",
    "ma",
    "ne",
    "ro",
    "ta",
    "shi",
)
_FAMILY_ENDINGS = ("ov", "ova", "ani", "ez", "i", "enko", "yan", "ski", "oglu", "")
_SCREEN_COUNTRIES = ("IR", "SY", "RU", "KP", "VE", "IQ", "LB", "YE", "CN", "MX", "CO", "AE", "TR", "SD", "BY")
_LATIN_SPELLINGS = (
    "shch kh sh ch zh ts ya yu yo ye ph th dh gh ou oo ee j w q x y c a b d e f g h i k l m n o p r s t u v z"
)
_CYRILLIC_SPELLINGS = "щ х ш ч ж ц я ю ё е ф т д г у у и дж у к кс й к а б д е ф г х и к л м н о п р с т у в з"  # noqa: RUF001
# Latin to Cyrillic as a Russian speaker would write a foreign name: digraphs before letters.
_TO_CYRILLIC = tuple(zip(_LATIN_SPELLINGS.split(), _CYRILLIC_SPELLINGS.split(), strict=True))
_SCREEN_SEED = 0x5C4EE2  # keeps the screening draws apart from the other generators' streams
_SCREEN_PERSON_SHARE = 0.9  # made-up listings are nine in ten persons, the rest organisations
# Positives come from names of two tokens or more: a lone token is too weak a query to expect its listing back.
_POSITIVE_TOKENS_MIN = 2
_WITH_MIDDLE = 3  # words in a name with a middle one to drop: first, middle, last
_TYPO_EDITS = ("substitute", "delete", "insert", "swap")


@dataclass(frozen=True, slots=True)
class LabelledQuery:
    """A screening query and the truth about it: the listings a correct screener alerts on."""

    name: str
    expected: frozenset[str]  # list ids of the listing it was made from and of same-named ones; empty: a negative
    variant: str  # how it was made: "reorder+typo", "cyrillic", "alias", "negative", "negative_shared_surname"
    listed_name: str  # the listed name it was made from ("" for a negative)


def to_cyrillic(text: str) -> str:
    """A Latin-script name written in Cyrillic the way people write one, not a reversible transliteration."""
    out, i, lower = [], 0, text.lower()
    while i < len(lower):
        for latin, cyrillic in _TO_CYRILLIC:
            if lower.startswith(latin, i):
                shown = text[i : i + max(2, len(latin))]
                out.append(
                    cyrillic.upper()
                    if shown.isupper() and len(shown) > 1
                    else cyrillic.capitalize()
                    if text[i].isupper()
                    else cyrillic
                )
                i += len(latin)
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def synthetic_listed_entities(seed: int, count: int, first: int = 0) -> list[ListedEntity]:
    """``count`` made-up listings (source ``synthetic``), nine in ten persons, to pad a list to a size."""
    # Imported here: tessera.rules loads ICU and rigour, which only the screening helpers need.
    from tessera.rules import ListedEntity  # noqa: PLC0415

    entities = []
    for i in range(first, first + count):
        rng = np.random.default_rng([seed, _SCREEN_SEED, i])
        if rng.random() < _SCREEN_PERSON_SHARE:
            given = [str(rng.choice(_SCREEN_GIVEN)) for _ in range(int(rng.choice([1, 2, 3], p=[0.5, 0.4, 0.1])))]
            family = _made_up_family_name(rng).upper()
            names: tuple[str, ...] = (f"{family}, {' '.join(given)}",)
            birth = _BIRTH_FIRST + int(rng.integers(20_000))
            dates: tuple[str, ...] = (datetime.date.fromordinal(birth).isoformat(),)
            kind = "person"
        else:
            words = rng.choice(len(_SCREEN_ORG_WORDS), size=2, replace=False)
            form = str(rng.choice(_SCREEN_ORG_FORMS))
            names = (" ".join([*(_SCREEN_ORG_WORDS[int(w)] for w in words), form]).upper(),)
            dates, kind = (), "organisation"
        entities.append(
            ListedEntity(
                list_id=f"synthetic:{i}",
                source="synthetic",
                kind=kind,
                names=names,
                birth_dates=dates,
                nationalities=(str(rng.choice(_SCREEN_COUNTRIES)),),
                identifiers=(),
                programs=("SYNTHETIC",),
                legal_basis="synthetic listing for tests and benches",
                remarks="",
            )
        )
    return entities


def _made_up_family_name(rng: np.random.Generator) -> str:
    """A plausible family name that is on no list: two or three syllables and an ending."""
    syllables = "".join(str(rng.choice(_SYLLABLES)) for _ in range(int(rng.integers(2, 4))))
    return (syllables + str(rng.choice(_FAMILY_ENDINGS))).title()


def _natural_order(name: str) -> list[str]:
    """OFAC's "FAMILY, Given Names" as people write it: given names first."""
    family, comma, given = name.partition(",")
    return (given.split() + family.split()) if comma else name.split()


def _typo(rng: np.random.Generator, words: list[str]) -> list[str]:
    """One edit (substitution, deletion, insertion or swap) in one word of four letters or more."""
    # Screening finds any one edit in a word this long; a shorter one matches a letter lost or replaced only.
    from tessera.rules import FUZZY_TOKEN_LENGTH_MIN  # noqa: PLC0415 (ICU loads only for screening helpers)

    choices = [i for i, w in enumerate(words) if len(w) >= FUZZY_TOKEN_LENGTH_MIN and w.isalpha() and w.isascii()]
    if not choices:
        return words
    at = int(rng.choice(choices))
    word, pos = words[at], int(rng.integers(1, len(words[at]) - 1))
    letter = str(rng.choice(list("aeioubdgklmnrst")))
    letter = letter.upper() if word.isupper() else letter
    edit = _TYPO_EDITS[int(rng.integers(len(_TYPO_EDITS)))]
    if edit == "substitute":
        word = word[:pos] + letter + word[pos + 1 :]
    elif edit == "delete":
        word = word[:pos] + word[pos + 1 :]
    elif edit == "insert":
        word = word[:pos] + letter + word[pos:]
    else:
        word = word[:pos] + word[pos + 1] + word[pos] + word[pos + 2 :]
    return [*words[:at], word, *words[at + 1 :]]


def _screen_key(token: str) -> str:
    from rigour.text import metaphone  # noqa: PLC0415 (only the screening helpers load rigour)

    from tessera.rules import FUZZY_TOKEN_LENGTH_MIN  # noqa: PLC0415 (as the screener keys its tokens)

    return metaphone(token) if len(token) >= FUZZY_TOKEN_LENGTH_MIN and token.isalpha() else token


class _ListedKeys:
    """Listed names as sets of sound keys, to tell a made-up name that is in effect on the list."""

    def __init__(self, entities: Sequence[ListedEntity]) -> None:
        from tessera.rules import name_tokens  # noqa: PLC0415 (ICU loads only for screening helpers)

        self.tokens = name_tokens
        self.sets: list[frozenset[str]] = []
        self.by_key: dict[str, set[int]] = {}
        self.by_tokens: dict[frozenset[str], set[str]] = {}
        for entity in entities:
            for name in entity.names:
                tokens = frozenset(name_tokens(name))
                if not tokens:
                    continue
                self.by_tokens.setdefault(tokens, set()).add(entity.list_id)
                keys = frozenset(_screen_key(t) for t in tokens)
                for key in keys:
                    self.by_key.setdefault(key, set()).add(len(self.sets))
                self.sets.append(keys)

    def clashes(self, name: str) -> bool:
        """Whether some listed name sounds like this one, or contains it, or is contained in it."""
        keys = frozenset(_screen_key(t) for t in self.tokens(name))
        postings = [self.by_key.get(k, set()) for k in keys]
        if all(postings) and set.intersection(*postings):
            return True  # every key of the name is in one listed name
        counts: dict[int, int] = {}
        for posting in postings:
            for index in posting:
                counts[index] = counts.get(index, 0) + 1
        return any(counts[i] == len(self.sets[i]) for i in counts)


def screening_queries(
    seed: int, entities: Sequence[ListedEntity], positives: int, negatives: int
) -> list[LabelledQuery]:
    """A labelled, shuffled set of screening queries made from ``entities``, the same for the same seed.

    Positives come from listings not of source ``synthetic``, persons and organisations whose
    name has two tokens or more, written as people write them: one, two or three (55, 35 and
    10 %) of: an alias instead of the primary name, and for persons the given names first and
    the last one moved to the front, a middle name dropped, one typo (an edit inside a word of
    four letters or more), Cyrillic script. Their expected listings are the source listing and
    any listing named exactly as the query or as the name it came from. Negatives are made-up
    names, half sharing the family name of a listed person (with other given names); none
    sounds like, contains or is contained in a listed name, so none should alert.
    """
    keys = _ListedKeys(entities)
    record = [
        e
        for e in entities
        if e.source != "synthetic"
        and e.kind in ("person", "organisation")
        and len(keys.tokens(e.names[0])) >= _POSITIVE_TOKENS_MIN
    ]
    if not record and positives:
        raise ValueError("no listings to make positives from")
    rng = np.random.default_rng([seed, _SCREEN_SEED])
    queries: list[LabelledQuery] = []
    while len(queries) < positives:
        entity = record[int(rng.integers(len(record)))]
        aliases = [n for n in entity.names[1:] if len(keys.tokens(n)) >= _POSITIVE_TOKENS_MIN and n.isascii()]
        # People reorder and shorten the names of people; a company's name they copy.
        choices = ["reorder", "drop_middle", "typo", "cyrillic"] if entity.kind == "person" else ["typo", "cyrillic"]
        if aliases:
            choices.append("alias")
        count = min(len(choices), int(rng.choice([1, 2, 3], p=[0.55, 0.35, 0.10])))
        wanted = {str(op) for op in rng.choice(choices, size=count, replace=False)}
        ops = []
        name = entity.names[0]
        if "alias" in wanted:
            name = aliases[int(rng.integers(len(aliases)))]
            ops.append("alias")
        words = _natural_order(name)
        if "drop_middle" in wanted and len(words) >= _WITH_MIDDLE:
            del words[int(rng.integers(1, len(words) - 1))]
            ops.append("drop_middle")
        if "reorder" in wanted and len(words) > 1:
            words = [words[-1], *words[:-1]]
            ops.append("reorder")
        if "typo" in wanted:
            typed = _typo(rng, words)
            if typed != words:
                words = typed
                ops.append("typo")
        text = " ".join(words)
        text = (text.title(), text.upper(), text)[int(rng.integers(3))]
        if "cyrillic" in wanted and text.isascii():
            text = to_cyrillic(text)
            ops.append("cyrillic")
        if not ops:
            continue
        # Listings named exactly as the query, or as the name it came from, are right to alert too.
        same = keys.by_tokens.get(frozenset(keys.tokens(name)), set()) | keys.by_tokens.get(
            frozenset(keys.tokens(text)), set()
        )
        expected = frozenset({entity.list_id} | same)
        queries.append(LabelledQuery(text, expected, "+".join(ops), name))
    people = [e for e in record if e.kind == "person"]
    made: set[str] = set()
    hard = negatives // 2 if people else 0
    while len(queries) < positives + negatives:
        given = [str(rng.choice(_SCREEN_GIVEN)) for _ in range(int(rng.choice([1, 2], p=[0.6, 0.4])))]
        if len(made) < hard:
            listed = people[int(rng.integers(len(people)))].names[0]
            family = listed.partition(",")[0].split() if "," in listed else listed.split()[-1:]
            listed_keys = {_screen_key(t) for t in keys.tokens(listed)}
            if any(_screen_key(t) in listed_keys for g in given for t in keys.tokens(g)):
                continue  # another person of that family: no given name of the listed one
            variant, words = "negative_shared_surname", [*given, *(w.title() for w in family)]
        else:
            variant, words = "negative", [*given, str(rng.choice(_SCREEN_FAMILY))]
        text = " ".join(words)
        if text in made or keys.clashes(text):
            continue
        made.add(text)
        queries.append(LabelledQuery(text, frozenset(), variant, ""))
    order = rng.permutation(len(queries))
    return [queries[int(i)] for i in order]


def seed_persons(store: Store, seed: int, count: int, *, unlike: Collection[str] = ()) -> list[str]:
    """``count`` synthetic active persons written straight into the registry's tables, with citizen principals.

    For programmes' tests and benches (ten million in minutes): no enrolment, no templates, no
    screening, only what a cycle reads (number, principal, birth date, sex). Rows go to the
    driver as tuples, one prepared statement a table per chunk; the store's triggers log each
    person as any write would (``person_changes``). Numbers in ``unlike`` (persons seeded
    before with another seed) are passed over. Returns their numbers.
    """
    taken, extra = set(unlike), 16
    while len(numbers := [n for n in synthetic_numbers(seed, count + extra) if n not in taken]) < count:
        extra *= 4  # another seed's numbers meet these rarely: a few more drawn make up for them
    numbers = numbers[:count]
    rng = np.random.default_rng([seed, 19])
    births = (np.datetime64("1930-01-01") + rng.integers(0, 95 * 365, count)).astype(str).tolist()
    sexes = rng.choice(["F", "M", "X"], count, p=[0.495, 0.495, 0.01]).tolist()
    now = 1_790_000_000_000_000_000
    chunk = 100_000
    prefix = f"{seed % 0x10000:04x}"
    with store.transaction(write=True) as conn:
        postgresql = conn.dialect.name == "postgresql"
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        mark = "%s" if postgresql else "?"
        if not postgresql:  # the indexes' pages in memory while they grow: keys come in random order
            cursor.execute(f"PRAGMA cache_size = -{min(count // 2 + 2_000, 4_000_000)}")
        for start in range(0, count, chunk):
            span = range(start, min(start + chunk, count))
            ids = [f"p_{prefix}{i:012x}" for i in span]
            cursor.executemany(
                "INSERT INTO principals (id, name, role, agency, subject, created_at_ns, disabled) "
                f"VALUES ({', '.join([mark] * 7)})",
                [(ids[k], f"seeded {numbers[i]}", "citizen", "", ids[k], now, False) for k, i in enumerate(span)],
            )
            cursor.executemany(
                "INSERT INTO persons (number, principal_id, name, other_names, birth_date, sex, address, status, "
                f"enrolment_id, created_at_ns) VALUES ({', '.join([mark] * 10)})",
                [
                    (n, ids[k], f"Person {i}", "[]", births[i], sexes[i], "", "active", f"e_{prefix}{i:012x}", now)
                    for k, (i, n) in enumerate(zip(span, numbers[span.start : span.stop], strict=True))
                ],
            )
    return numbers


def seed_households(store: Store, seed: int, numbers: Sequence[str], size: int) -> int:
    """Households of ``size`` consecutive ``numbers`` (the first the head), written straight into the tables.

    For benches: no history, no checks (``Households.create_household`` does both). Returns how many.
    """
    rng = np.random.default_rng([seed, 16])
    count = len(numbers) // size
    ids = [f"h_{v:016x}" for v in rng.integers(0, 2**63, count, dtype=np.int64).tolist()]
    now = 1_790_000_000_000_000_000
    with store.transaction(write=True) as conn:
        mark = "%s" if conn.dialect.name == "postgresql" else "?"
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.executemany(
            "INSERT INTO households (id, created_at_ns, created_by, closed_at_ns) "
            f"VALUES ({mark}, {mark}, {mark}, NULL)",
            [(h, now, "seed_households") for h in ids],
        )
        cursor.executemany(
            "INSERT INTO household_members (number, household_id, is_head, joined_at_ns) "
            f"VALUES ({', '.join([mark] * 4)})",
            [(numbers[i], ids[i // size], i % size == 0, now) for i in range(count * size)],
        )
    return count
