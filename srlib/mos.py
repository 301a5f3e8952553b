"""A blind mean-opinion-score (MOS) test at home, as in the SRGAN paper's section 3.3.

The paper showed 26 raters each image of each method, one at a time, in random order and without labels,
and asked for a score from 1 (bad quality) to 5 (excellent quality); a method's MOS is the mean of its
scores. `blind_trials` shuffles the crops and hides their methods, `opinion_scores` gives each method's MOS
with a confidence interval (Student's t: few ratings make wide intervals), and `write_ratings` keeps the
ratings as CSV, so that several people's files can be pooled.
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from scipy.stats import t as student_t
from torch import Tensor

from srlib.errors import UserError
from srlib.files import write_text

SCALE = (1, 2, 3, 4, 5)  # 1 bad, 2 poor, 3 fair, 4 good, 5 excellent


@dataclass(frozen=True)
class Trial:
    """One crop to rate: shown by ``number`` only; ``image`` and ``method`` stay hidden until the end."""

    number: int
    image: str
    method: str
    crop: Tensor


def blind_trials(crops: Mapping[str, Mapping[str, Tensor]], seed: int = 0) -> list[Trial]:
    """Every ``crops[image][method]`` as a trial, in a random order fixed by ``seed``."""
    items = [
        (image, method, crop) for image, by_method in crops.items() for method, crop in by_method.items()
    ]
    random.Random(seed).shuffle(items)
    return [Trial(i + 1, image, method, crop) for i, (image, method, crop) in enumerate(items)]


def opinion_scores(ratings: Iterable[tuple[str, int]], confidence: float = 0.95) -> dict[str, tuple]:
    """Per method, ``(MOS, half-width of the confidence interval, number of ratings)`` from
    ``(method, rating)`` pairs; the half-width is NaN with a single rating."""
    by_method: dict[str, list[int]] = {}
    for method, rating in ratings:
        if rating not in SCALE:
            raise UserError(f"a rating must be one of {SCALE}, got {rating!r}")
        by_method.setdefault(method, []).append(rating)
    scores = {}
    for method, values in by_method.items():
        n = len(values)
        mean = sum(values) / n
        if n < 2:
            scores[method] = (mean, math.nan, n)
            continue
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        scores[method] = (mean, float(student_t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n), n)
    return scores


def write_ratings(path: str | Path, trials: Sequence[Trial], ratings: Mapping[int, int], source: str) -> Path:
    """Write one CSV row per rated trial (trial, image, method, rating, source), atomically.

    ``ratings`` maps trial numbers to scores; ``source`` says who rated (a name, or "simulated").
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["trial", "image", "method", "rating", "source"])
    for trial in trials:
        if trial.number in ratings:
            writer.writerow([trial.number, trial.image, trial.method, ratings[trial.number], source])
    return write_text(path, out.getvalue())


def read_ratings(path: str | Path) -> list[tuple[str, int]]:
    """``(method, rating)`` pairs from a CSV written by `write_ratings` (files can be concatenated)."""
    with open(path, newline="") as f:
        return [(row["method"], int(row["rating"])) for row in csv.DictReader(f) if row["trial"] != "trial"]
