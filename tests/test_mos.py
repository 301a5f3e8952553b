import math

import pytest
import torch
from scipy import stats

from srlib.errors import UserError
from srlib.mos import blind_trials, opinion_scores, read_ratings, write_ratings


def crops():
    return {
        img: {m: torch.full((3, 4, 4), i / 10) for i, m in enumerate(["bicubic", "srgan", "HR"])}
        for img in ("a", "b")
    }


def test_blind_trials_hold_every_crop_once_in_a_seeded_shuffled_order():
    trials = blind_trials(crops(), seed=1)
    assert [t.number for t in trials] == list(range(1, 7))
    assert sorted((t.image, t.method) for t in trials) == sorted(
        (i, m) for i in ("a", "b") for m in ("bicubic", "srgan", "HR")
    )
    assert [t.method for t in trials] == [t.method for t in blind_trials(crops(), seed=1)]
    orders = {tuple((t.image, t.method) for t in blind_trials(crops(), seed=s)) for s in range(5)}
    assert len(orders) > 1


def test_opinion_scores_are_means_with_students_t_intervals():
    ratings = [("srgan", r) for r in (4, 5, 3, 4)] + [("bicubic", 2), ("bicubic", 1), ("HR", 5)]
    scores = opinion_scores(ratings)
    mean, half, n = scores["srgan"]
    low, high = stats.t.interval(0.95, 3, loc=4, scale=stats.sem([4, 5, 3, 4]))
    assert (mean, n) == (4.0, 4) and half == pytest.approx((high - low) / 2)
    assert scores["bicubic"][:1] == (1.5,) and math.isnan(scores["HR"][1])


def test_a_rating_outside_1_to_5_is_refused():
    with pytest.raises(UserError, match="one of"):
        opinion_scores([("srgan", 6)])


def test_ratings_round_trip_through_csv(tmp_path):
    trials = blind_trials(crops())
    path = write_ratings(tmp_path / "r.csv", trials, {1: 4, 3: 2}, source="simulated")
    lines = path.read_text().splitlines()
    assert (
        lines[0] == "trial,image,method,rating,source" and len(lines) == 3 and lines[1].endswith(",simulated")
    )
    assert read_ratings(path) == [(trials[0].method, 4), (trials[2].method, 2)]
