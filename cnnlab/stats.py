"""How sure an accuracy is, and whether two accuracies differ by more than noise.

Two kinds of noise blur a test accuracy:

* **the test set's sampling noise**: a model that is right on a fraction p of all images scores
  a little above or below p on any finite test set; on 600 images a 95% interval is about
  +-3.6 points (`wilson_interval`, `two_proportion_test`);
* **the training seed's noise**: the same model trained with another seed (initial weights,
  batch order, augmentation draws) scores differently; only repeats show how much
  (`seed_summary`, `welch_test`).

`difference_verdict` picks the test that the data allow: Welch's t-test over seeds when both
sides have several, else the two-proportion test on the test images.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1 (e.g. 0.95), not {confidence}")


def _check_accuracy(correct_fraction: float, n: int) -> None:
    if n < 1:
        raise ValueError(f"an accuracy needs at least one test image, not n={n}")
    if not 0 <= correct_fraction <= 1:
        raise ValueError(f"an accuracy is a fraction in 0..1, not {correct_fraction}")


def wilson_interval(
    correct_fraction: float, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """The Wilson score interval of a proportion: the accuracy `correct_fraction` on `n` images.

    Unlike the textbook p +- z*sqrt(p(1-p)/n), it stays inside 0..1 and keeps its coverage
    near 0 and 1, where good models' accuracies live.
    """
    _check_accuracy(correct_fraction, n)
    _check_confidence(confidence)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    shrink = 1 + z**2 / n
    centre = (correct_fraction + z**2 / (2 * n)) / shrink
    variance = correct_fraction * (1 - correct_fraction) / n + z**2 / (4 * n**2)
    half_width = z / shrink * math.sqrt(variance)
    # max/min: rounding must not push a bound past 0 or 1 when the accuracy is exactly 0 or 1.
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def seed_summary(values: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean of one value over seeds, with its spread.

    Returns {"n", "mean", "sd", "interval"}: `sd` is the sample standard deviation (ddof=1) and
    `interval` the Student t confidence interval of the mean, (low, high); both are None for a
    single seed, whose spread is unknown.
    """
    _check_confidence(confidence)
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("no values to summarise: pass one value per seed")
    n, mean = int(values.size), float(values.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "sd": None, "interval": None}
    sd = float(values.std(ddof=1))
    half_width = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "interval": (mean - half_width, mean + half_width)}


def welch_test(a: Sequence[float], b: Sequence[float]) -> dict:
    """Welch's two-sided t-test of two samples of per-seed values (unequal variances allowed).

    Returns {"statistic", "p_value", "df"}, all None where the test is undefined: a side with
    fewer than 2 values (no spread to compare against), or no spread on either side (every
    seed scored the same, so the seeds show no noise at all).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return {"statistic": None, "p_value": None, "df": None}
    with warnings.catch_warnings():
        # scipy flags a side whose values are all equal as "nearly identical" data; the test is
        # exact then (that side's variance is 0), so the warning would only alarm the reader.
        warnings.filterwarnings("ignore", "Precision loss occurred in moment calculation")
        result = stats.ttest_ind(a, b, equal_var=False)
    return {
        "statistic": float(result.statistic), "p_value": float(result.pvalue), "df": float(result.df),
    }


def two_proportion_test(p1: float, n1: int, p2: float, n2: int) -> dict:
    """Two-sided z-test that two accuracies, p1 on n1 images and p2 on n2, differ (pooled).

    It treats the two as independent samples of images. When both models were scored on the
    same test images it is conservative: the images' shared difficulty cancels in a paired
    comparison, which would find real differences sooner. It sees only the test set's noise,
    not the training seed's. Returns {"statistic", "p_value"}.
    """
    _check_accuracy(p1, n1)
    _check_accuracy(p2, n2)
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    standard_error = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if standard_error == 0:
        # Both perfect, or both wrong on every image: identical, nothing to test.
        return {"statistic": 0.0, "p_value": 1.0}
    statistic = (p1 - p2) / standard_error
    return {"statistic": statistic, "p_value": float(2 * stats.norm.sf(abs(statistic)))}


def difference_verdict(
    a_values: Sequence[float],
    a_n: int,
    b_values: Sequence[float],
    b_n: int,
    alpha: float = 0.05,
    labels: tuple[str, str] = ("A", "B"),
    scored_on: str = "test",
) -> dict:
    """Whether B's accuracy differs from A's by more than noise.

    `a_values` and `b_values` are accuracies, one per seed, on `a_n` and `b_n` images of the
    split `scored_on` names ("test", or "validation" when choosing a grid cell); `labels` name
    A and B in the explanation. Returns {"difference": mean(B) - mean(A), "test",
    "p_value", "exceeds_noise": p < alpha, "explanation": one sentence for the reader}.

    `test` is "welch" when both sides have at least 2 seeds and the seeds vary. Otherwise it is
    "two-proportion", on the mean accuracies and the test images: the seeds' noise cannot be
    measured, so only the test set's is tested (on the means, so that the test is about the
    difference reported).
    """
    a_label, b_label = labels
    a_mean, b_mean = seed_summary(a_values)["mean"], seed_summary(b_values)["mean"]
    difference = b_mean - a_mean
    welch = welch_test(a_values, b_values)
    if welch["p_value"] is not None:
        test, p_value = "welch", welch["p_value"]
        evidence = f"Welch's t-test over {len(a_values)} and {len(b_values)} seeds"
        noise = "the seed-to-seed noise"
    else:
        test = "two-proportion"
        p_value = two_proportion_test(a_mean, a_n, b_mean, b_n)["p_value"]
        evidence = f"two-proportion z-test on {a_n} and {b_n} {scored_on} images"
        noise = f"the {scored_on} set's sampling noise"
    exceeds_noise = bool(p_value < alpha)
    if difference == 0:
        size = f"{b_label} scores the same as {a_label}"
    else:
        direction = "higher" if difference > 0 else "lower"
        size = f"{b_label} is {abs(difference) * 100:.1f} points {direction} than {a_label}"
    if exceeds_noise:
        judgement = f"p = {p_value:.3g} < {alpha:g}: more than {noise}"
    else:
        judgement = f"p = {p_value:.3g} >= {alpha:g}: within {noise}, not a demonstrated difference"
    return {
        "difference": difference,
        "test": test,
        "p_value": p_value,
        "exceeds_noise": exceeds_noise,
        "explanation": f"{size} ({evidence}; {judgement}).",
    }
