"""How face and finger scores combine into one 1:1 score, for a pair or for a whole batch at once.

``(face + FINGER_WEIGHT * sum(finger cosines)) / (1 + FINGER_WEIGHT * shared)`` over the
finger positions both templates carry: the mean of the modality cosines, each finger
weighted ``FINGER_WEIGHT`` against the face. With no shared finger it is the face cosine,
so one threshold holds whatever a capture device delivered.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tessera.identity.templates import FINGER_DIMS, FINGERS_MAX, Templates

# Each finger both templates carry counts as much as the face. A finger template
# separates strangers about as well as the face does (cosine 0.54-0.80 genuine against
# at most 0.33 for strangers of the same pattern class), and look-alike faces do not
# share fingerprints, so the fingers are what pulls a clustered face's genuine and
# stranger scores apart.
FINGER_WEIGHT = 1.0


def fused_score(a: Templates, b: Templates) -> float:
    """The 1:1 score of two people's templates: the face cosine fused with shared fingers."""
    face = float(np.dot(a.face.astype(np.float64), b.face))
    theirs = dict(b.fingers)
    cosines = [float(np.dot(v.astype(np.float64), theirs[p])) for p, v in a.fingers if p in theirs]
    return fused(face, cosines)


def fused(face: float, fingers: Sequence[float]) -> float:
    """The fused score from a face cosine and the cosines of the shared fingers."""
    return min(1.0, max(-1.0, (face + FINGER_WEIGHT * sum(fingers)) / (1 + FINGER_WEIGHT * len(fingers))))


def pairwise_fused_scores(templates: Sequence[Templates]) -> npt.NDArray[np.float64]:
    """Every pair's ``fused_score`` as an n-by-n matrix: a few matrix products, not n squared calls.

    For comparing the applicants of one batch with each other.
    """
    n = len(templates)
    faces = np.stack([t.face for t in templates]).astype(np.float64) if n else np.zeros((0, 1))
    total = faces @ faces.T
    shared = np.zeros((n, n))
    for position in range(1, FINGERS_MAX + 1):
        carriers = [i for i, t in enumerate(templates) if position in t.positions]
        if not carriers:
            continue
        vectors = np.zeros((n, FINGER_DIMS))
        mask = np.zeros(n)
        for i in carriers:
            vectors[i] = dict(templates[i].fingers)[position]
            mask[i] = 1.0
        total += FINGER_WEIGHT * (vectors @ vectors.T)  # zero rows add nothing where a side lacks the finger
        shared += np.outer(mask, mask)
    scores: npt.NDArray[np.float64] = np.clip(total / (1 + FINGER_WEIGHT * shared), -1.0, 1.0)
    return scores
